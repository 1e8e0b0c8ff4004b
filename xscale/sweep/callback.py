"""The driver's Tune callback: MLflow runs through `xscale.tracking`, a progress bar, a line per trial.

Trials never talk to MLflow: they report to the driver through Ray, and this callback logs what they
report, so workers need no route to the tracking server.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ray import tune
from tqdm import tqdm

from xscale.keys import AXIS_FIELDS, XTREME_SCORE, cell_id
from xscale.spec import Spec
from xscale.sweep.trial import CURVES
from xscale.tracking import Tracker


def short(v: Any) -> str:
    """A value as the summary lines print it (floats to three significant digits)."""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


class TrackingCallback(tune.Callback):
    """Driver-side MLflow logging, a progress bar and one line per finished trial."""

    def __init__(self, tracker: Tracker, spec: Spec, total: int, quiet: bool = False):
        self.tracker = tracker
        self.spec = spec
        self.grid = list(spec.grid_axes())
        self.searched = list(spec.searched_axes())
        self.runs: dict[str, str] = {}
        self.finished_before: set[str] = set()  # trials whose run FINISHED under an earlier driver
        self.rows: dict[str, dict[str, Any]] = {}
        self.bar = tqdm(total=total, desc="trials", unit="trial", file=sys.stderr, disable=quiet, dynamic_ncols=True)
        self.started = time.time()
        global _live_callback
        _live_callback = self

    def __reduce__(self):
        # Tune pickles the RunConfig, callbacks included, into tuner.pkl, and Tuner.restore takes
        # them from there, not from the caller. A pickled copy of this callback would hold the
        # previous invocation's MLflow parent run, and its tqdm bar does not even unpickle
        # (RecursionError: `xscale sweep --resume` crashed). Pickle a reference to the live
        # callback of the driver process instead: on restore it resolves to the one run_sweep made.
        return (_current_callback, ())

    def _run(self, trial) -> str:
        if trial.trial_id not in self.runs:
            cfg = trial.config
            cell = cell_id({k: cfg[k] for k in self.grid})
            params = {k: cfg[k] for k in AXIS_FIELDS}
            params.update({"spec.name": self.spec.name, "benchmark.kind": self.spec.benchmark.kind,
                           "benchmark.preset": self.spec.benchmark.preset, "target.tasks": ",".join(self.spec.target.tasks)})
            run_id, finished = self.tracker.trial_run(trial.trial_id, cell, params, name=str(trial))
            self.runs[trial.trial_id] = run_id
            if finished:
                self.finished_before.add(trial.trial_id)
        return self.runs[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._run(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        step = int(result.get("stage_index", result.get("training_iteration", 0)))
        run_id = self._run(trial)
        if trial.trial_id not in self.finished_before:
            self.tracker.log(run_id, result, step)
            self.tracker.log_curves(run_id, result.get(CURVES) or {})
        self.rows[trial.trial_id] = {**trial.config, **{k: v for k, v in result.items() if "/" in k}}

    def _line(self, trial, status: str, reason: str = "") -> None:
        row = self.rows.get(trial.trial_id, dict(trial.config))
        axes = " ".join(f"{k}={short(row[k])}" for k in self.grid + self.searched if k in row)
        score = row.get(self.spec.objective.metric)
        zs = row.get(XTREME_SCORE)
        what = f"dev {score:.1f} zero-shot {zs:.1f}" if score is not None and zs is not None else reason
        self.bar.write(f"{status:8s} {axes}  {what}")
        self.bar.update(1)

    def on_trial_complete(self, iteration, trials, trial, **info):
        run_id = self._run(trial)
        if trial.trial_id not in self.finished_before:
            self.tracker.finish(run_id, "FINISHED")
        self.rows.setdefault(trial.trial_id, dict(trial.config))["status"] = "FINISHED"
        self._line(trial, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        reason = failure_reason(trial)
        self.tracker.finish(self._run(trial), "FAILED", reason)
        row = self.rows.setdefault(trial.trial_id, dict(trial.config))
        row.update(status="FAILED", reason=reason)
        self._line(trial, "FAILED", reason)

    def close(self) -> None:
        self.bar.close()


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
