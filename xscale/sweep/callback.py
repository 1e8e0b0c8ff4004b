"""The driver's Tune callback: MLflow runs through `xscale.tracking`, and what the terminal shows.

Trials never talk to MLflow: they report to the driver through Ray, and this callback logs what they
report, so workers need no route to the tracking server. Each trial's run is found by its key, so a
resumed sweep continues a trial's one run instead of opening a second.

On a terminal the progress is a live table (rich): the running trials with their axes, current stage
and elapsed time, the finished and failed counts, and an ETA from the trials that finished; elsewhere
(a log file, CI) one plain line per started, finished or failed trial.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ray import tune
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from xscale.keys import AXIS_FIELDS, CHECKPOINT, FRACTION, SEED, SIZE, TASK, XTREME_SCORE, cell_id
from xscale.spec import Spec
from xscale.sweep.search import TRIAL_KEY
from xscale.sweep.trial import CURVES, TAGS, kill_driver_once
from xscale.tracking import Tracker


def short(v: Any) -> str:
    """A value as the summary lines print it (floats to three significant digits)."""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def run_name(config: dict[str, Any]) -> str:
    """A child run's name from its axes, e.g. `m-sst2-if0.3-ck1-s0-t1` (size, intermediate task and
    fraction, checkpoint fraction, seed, trial index within the cell)."""
    index = str(config.get(TRIAL_KEY, "#0")).rsplit("#", 1)[-1]
    return (f"{config.get(SIZE)}-{config.get(TASK)}-if{short(config.get(FRACTION))}-ck{short(config.get(CHECKPOINT))}"
            f"-s{config.get(SEED)}-t{index}")


class TrackingCallback(tune.Callback):
    """Driver-side MLflow logging and progress."""

    def __init__(self, tracker: Tracker, spec: Spec, total: int, quiet: bool = False, sweep_dir: str = ""):
        self.tracker = tracker
        self.sweep_dir = sweep_dir
        self.spec = spec
        self.grid = list(spec.grid_axes())
        self.shown = [k for k in self.grid if len(spec.grid_axes()[k]) > 1] + list(spec.searched_axes())
        self.runs: dict[str, str] = {}
        self.finished_before: set[str] = set()  # trials whose key FINISHED under an earlier driver
        self.rows: dict[str, dict[str, Any]] = {}
        self.total, self.done, self.failed = total, 0, 0
        self.running: dict[str, dict[str, Any]] = {}  # trial id -> axes, stage, start time
        self.durations: list[float] = []
        self.started = time.time()
        self.console = Console(file=sys.stderr)
        self.live = Live(self._view(), console=self.console, refresh_per_second=1, transient=True) \
            if self.console.is_terminal and not quiet else None
        self.quiet = quiet
        if self.live is not None:
            self.live.start()
        global _live_callback
        _live_callback = self

    def __reduce__(self):
        # Tune pickles the RunConfig, callbacks included, into tuner.pkl. A pickled copy of this callback
        # would hold a dead invocation's MLflow parent run (and a live display does not pickle): pickle
        # a reference to the live callback of the driver process instead.
        return (_current_callback, ())

    # ---------------------------------------------------------------------------------- tracking
    def _run(self, trial) -> str:
        if trial.trial_id not in self.runs:
            cfg = trial.config
            key = cfg.get(TRIAL_KEY, trial.trial_id)
            cell = cell_id({k: cfg[k] for k in self.grid})
            params = {k: cfg[k] for k in AXIS_FIELDS}
            params.update({"spec.name": self.spec.name, "benchmark.kind": self.spec.benchmark.kind,
                           "benchmark.preset": self.spec.benchmark.preset, "target.tasks": ",".join(self.spec.target.tasks)})
            run_id, finished = self.tracker.trial_run(key, trial.trial_id, cell, params, name=run_name(cfg))
            self.runs[trial.trial_id] = run_id
            if finished:
                self.finished_before.add(trial.trial_id)
        return self.runs[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._run(trial)
        self.running[trial.trial_id] = {"axes": self._axes(trial.config), "stage": "starting", "since": time.time()}
        self._say(f"START    {self._axes(trial.config)}")
        kill_driver_once(self.sweep_dir, self.spec.debug, "trial_start")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        step = int(result.get("stage_index", result.get("training_iteration", 0)))
        run_id = self._run(trial)
        if trial.trial_id not in self.finished_before:
            self.tracker.log(run_id, result, step)
            self.tracker.log_curves(run_id, result.get(CURVES) or {})
            self.tracker.set_tags(run_id, result.get(TAGS) or {})
            kill_driver_once(self.sweep_dir, self.spec.debug, "result_logged")
        self.rows[trial.trial_id] = {**trial.config, **{k: v for k, v in result.items() if "/" in k}}
        if trial.trial_id in self.running:
            self.running[trial.trial_id]["stage"] = f"{result.get('stage', '?')} done"
        self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info):
        run_id = self._run(trial)
        row = self.rows.setdefault(trial.trial_id, dict(trial.config))
        last = (trial.last_result or {}).get("stage")
        # A trial the scheduler stopped early ends FINISHED too (it is done, not to be resumed), tagged
        # with the stage it stopped after, so that selection never compares it with complete trials.
        stopped = last if last and last != "done" else None
        if trial.trial_id not in self.finished_before:
            self.tracker.finish(run_id, "FINISHED", stopped_after=stopped)
            kill_driver_once(self.sweep_dir, self.spec.debug, "trial_complete")
        row["status"] = "STOPPED" if stopped else "FINISHED"
        self._ended(trial, row["status"], f"stopped after {stopped}: English dev below its cell's best" if stopped else "")

    def on_trial_error(self, iteration, trials, trial, **info):
        reason = failure_reason(trial)
        self.tracker.finish(self._run(trial), "FAILED", reason)
        row = self.rows.setdefault(trial.trial_id, dict(trial.config))
        where = getattr(trial, "error_file", None) or ""
        row.update(status="FAILED", reason=reason, error_file=where)
        self._ended(trial, "FAILED", f"{reason}" + (f" (traceback: {where})" if where else ""))

    # ------------------------------------------------------------------------------------ output
    def _axes(self, config: dict[str, Any]) -> str:
        return " ".join(f"{k}={short(config[k])}" for k in self.shown if k in config)

    def _ended(self, trial, status: str, reason: str = "") -> None:
        info = self.running.pop(trial.trial_id, None)
        if info is not None:
            self.durations.append(time.time() - info["since"])
        self.done += status in ("FINISHED", "STOPPED")
        self.failed += status == "FAILED"
        row = self.rows.get(trial.trial_id, dict(trial.config))
        score, zs = row.get(self.spec.objective.metric), row.get(XTREME_SCORE)
        what = reason
        if score is not None and not reason:  # no zero-shot score when `target.gate_zero_shot` held a task back
            what = f"dev {score:.1f}" + (f" zero-shot {zs:.1f}" if zs is not None else "")
        self._say(f"{status:8s} {self._axes(trial.config)}  {what}  [{self.done + self.failed}/{self.total}]",
                  always=True)

    def _say(self, line: str, always: bool = False) -> None:
        if self.quiet:
            return
        if self.live is not None:
            if always:
                self.live.console.print(line, markup=False, highlight=False)
            self._refresh()
        else:
            print(line, file=sys.stderr, flush=True)

    def eta_seconds(self) -> float | None:
        """Remaining trials times the mean duration of finished ones, over the trials running at once."""
        if not self.durations:
            return None
        left = self.total - self.done - self.failed
        return left * (sum(self.durations) / len(self.durations)) / max(1, len(self.running))

    def _view(self):
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("running trial", "stage", "elapsed"):
            table.add_column(column)
        now = time.time()
        for info in self.running.values():
            table.add_row(info["axes"], info["stage"], f"{now - info['since']:.0f}s")
        eta = self.eta_seconds()
        head = (f"{self.done} finished, {self.failed} failed, {len(self.running)} running of {self.total}; "
                f"elapsed {now - self.started:.0f}s" + (f"; ETA {eta / 60:.0f} min" if eta is not None else ""))
        return Group(head, table)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._view())

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


_live_callback: TrackingCallback | None = None


def _current_callback() -> tune.Callback:
    """The driver's TrackingCallback (what a pickled one becomes); a no-op outside a sweep."""
    return _live_callback if _live_callback is not None else tune.Callback()


def failure_reason(trial) -> str:
    """The last line of the trial's error (the exception), as Tune recorded it."""
    text = ""
    try:
        err = trial.get_error()
        text = str(err) if err is not None else ""
    except Exception:  # noqa: BLE001 - an unreadable error file must not break the sweep's bookkeeping
        text = ""
    if not text and getattr(trial, "error_file", None) and os.path.exists(trial.error_file):
        text = Path(trial.error_file).read_text()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    # Tune wraps the worker's exception; its last line names the original error.
    return lines[-1] if lines else "unknown error"
