"""The sweep driver: Ray Tune schedules one trial per grid point; the only module that imports ray.

Grid axes span the cells; searched axes (learning rate, warmup) are explored inside each cell:
`grid` and `random` through Ray's BasicVariantGenerator, `optuna` through one seeded TPE study per
cell (`CellSearch`), so every cell gets the same budget and its best learning rate is chosen on
English dev data. The driver, not the trials, writes MLflow (see `TrackingCallback`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch
from tqdm import tqdm

from xscale.benchmark import make as make_benchmark, prepare_spec
from xscale.errors import UserError
from xscale.spec import AXIS_FIELDS, Choice, IntRange, LogUniform, Spec, Uniform, cell_id, load_spec
from xscale.tracking import Tracker, default_uri

log = logging.getLogger("xscale")
optuna.logging.set_verbosity(optuna.logging.WARNING)
SWEEPS_ROOT = Path("sweeps")
TUNE_DIR = "tune"


# ------------------------------------------------------------------------------------- the trial


def trial_main(config: dict[str, Any], spec_json: str, cache_root: str, use_cache: bool, sweep_dir: str = "") -> None:
    """Ray Tune function trainable: run the pipeline for one point and report after each stage."""
    import datasets
    import torch

    from xscale.cache import StageCache
    from xscale.pipeline import make_benchmark, run_trial

    spec, hooks = _trial_hooks(Spec.model_validate_json(spec_json), config)
    datasets.disable_progress_bars()
    torch.set_num_threads(spec.resources.torch_threads)
    point = {k: config[k] for k in AXIS_FIELDS}
    cache = StageCache(cache_root, enabled=use_cache)
    # The synthetic benchmark is generated where it is read: beside a local cache, or in the node's
    # staging folder when the cache is an object store URI (every node derives the same data from the seed).
    bench = make_benchmark(spec, cache.staging if "://" in cache_root else Path(cache_root))
    stage_index = {"n": 0}

    def report(metrics: dict[str, float], stage: str) -> None:
        stage_index["n"] += 1
        computed: dict[str, int] = {}
        for name in cache.computed:
            computed[name.split("/")[0]] = computed.get(name.split("/")[0], 0) + 1
        extra = {f"cache/computed/{k}": v for k, v in computed.items()}
        tune.report({**metrics, **extra, "stage": stage, "stage_index": stage_index["n"]})
        if stage == hooks.get("kill_worker_after_stage"):
            _kill_worker_once(sweep_dir, config)

    final = run_trial(spec, point, cache, bench, report, log=lambda msg: print(msg, flush=True))
    report(final, "done")


# Fault-injection hooks for tests/cluster, read by the trial (not the pipeline, which only knows
# `nan_after_steps`/`pretrain_nan_after_steps`) and removed from `spec.debug` before the pipeline sees
# it, so that they change no stage's cache key:
#   kill_worker_after_stage: SIGKILL the trial's worker process right after it reports that stage,
#     once per grid point and sweep (a marker file in <sweep folder>/debug/, so a local sweep only;
#     a retry, in a fresh or a reused actor, finds the marker and runs on);
#   only_for: {axis: value, ...}: every debug setting applies only to trials at that point of the grid.
_TRIAL_HOOKS = ("kill_worker_after_stage", "only_for")
KILL_MARKER = "xscale-debug-killed"


def _trial_hooks(spec: Spec, config: dict[str, Any]) -> tuple[Spec, dict[str, Any]]:
    if not any(k in spec.debug for k in _TRIAL_HOOKS):
        return spec, {}
    debug = dict(spec.debug)
    hooks = {k: debug.pop(k) for k in _TRIAL_HOOKS if k in debug}
    if any(config.get(k) != v for k, v in hooks.get("only_for", {}).items()):
        debug, hooks = {}, {}
    return spec.model_copy(update={"debug": debug}), hooks


def _kill_worker_once(sweep_dir: str, config: dict[str, Any]) -> None:
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(sweep_dir) if "://" in sweep_dir else (pafs.LocalFileSystem(), sweep_dir)
    if not root or not isinstance(fs, pafs.LocalFileSystem):
        raise ValueError("debug.kill_worker_after_stage needs a local --out")
    point = hashlib.sha256(cell_id({k: config[k] for k in AXIS_FIELDS}).encode()).hexdigest()[:16]
    marker = Path(root) / "debug" / f"{KILL_MARKER}-{point}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------------------------ searchers


def _optuna_distribution(axis) -> optuna.distributions.BaseDistribution:
    if isinstance(axis, Choice):
        return optuna.distributions.CategoricalDistribution(list(axis.choice))
    if isinstance(axis, LogUniform):
        return optuna.distributions.FloatDistribution(*axis.loguniform, log=True)
    if isinstance(axis, Uniform):
        return optuna.distributions.FloatDistribution(*axis.uniform)
    if isinstance(axis, IntRange):
        return optuna.distributions.IntDistribution(*axis.int)
    raise TypeError(axis)


def _tune_domain(axis):
    if isinstance(axis, Choice):
        return tune.choice(list(axis.choice))
    if isinstance(axis, LogUniform):
        return tune.loguniform(*axis.loguniform)
    if isinstance(axis, Uniform):
        return tune.uniform(*axis.uniform)
    if isinstance(axis, IntRange):
        return tune.randint(axis.int[0], axis.int[1] + 1)
    raise TypeError(axis)


class CellSearch(Searcher):
    """One seeded Optuna TPE study per grid cell, `trials_per_cell` trials each, cells taken in turn.

    Ray's OptunaSearch cannot hold grid axes fixed while it searches the others; giving each cell
    its own study keeps the scaling axes on the grid and the budget equal across cells.

    Turns follow `spec.cells()` (model size fastest), but a cell whose pretraining another running
    trial is still computing waits while any other cell can start: its trial would only sit on the
    stage cache's lease. When every remaining cell waits on a pretraining, the next one starts anyway
    (it sets up its benchmark while the lease is held, and no slot is left empty).
    """

    def __init__(self, spec: Spec, metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.cells = spec.cells()
        self.budget = spec.search.trials_per_cell
        space = {k: _optuna_distribution(v) for k, v in spec.searched_axes().items()}
        self.studies = [
            OptunaSearch(space=space, metric=metric, mode=mode,
                         sampler=optuna.samplers.TPESampler(seed=spec.search.seed + i, n_startup_trials=max(2, self.budget // 2)))
            for i in range(len(self.cells))
        ]
        # Cell indices in the order their trials are due: every cell once, then every cell again, ...
        self.queue = [i for _ in range(self.budget) for i in range(len(self.cells))]
        self.owner: dict[str, int] = {}
        self.pretraining: dict[str, tuple] = {}  # trial id -> the pretraining it computes or waits for
        self.pretrained: set[tuple] = set()

    @staticmethod
    def pretraining_of(cell: dict[str, Any]) -> tuple | None:
        """What a cell's pretraining stage is shared by (its cache key's grid axes); None when the
        cell pretrains nothing (the random-init baseline at checkpoint fraction 0)."""
        if float(cell.get("pretrain.checkpoint_fraction", 1.0)) == 0.0:
            return None
        return (cell.get("model.size"), cell.get("seed"))

    def _next(self) -> int:
        """Position in the queue of the next trial to start."""
        busy = set(self.pretraining.values()) - self.pretrained
        for pos, i in enumerate(self.queue):
            if self.pretraining_of(self.cells[i]) not in busy:
                return pos
        return 0

    def suggest(self, trial_id: str):
        if not self.queue:
            return Searcher.FINISHED
        i = self.queue.pop(self._next())
        self.owner[trial_id] = i
        group = self.pretraining_of(self.cells[i])
        if group is not None and group not in self.pretrained:
            self.pretraining[trial_id] = group
        return {**self.cells[i], **self.studies[i].suggest(trial_id)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.pretraining and result.get("stage_index", 0) >= 1:  # past its pretraining stage
            self.pretrained.add(self.pretraining.pop(trial_id))
        if trial_id in self.owner and self.metric in result:
            self.studies[self.owner[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.pretraining.pop(trial_id, None)  # a trial that failed before pretraining leaves it to the next
        if trial_id in self.owner:
            self.studies[self.owner[trial_id]].on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
        if "issued" in self.__dict__:  # saved by an xscale that counted trials per cell: rebuild the queue
            issued = self.__dict__.pop("issued")
            self.__dict__.pop("next_cell", None)
            self.queue = [i for r in range(self.budget) for i in range(len(self.cells)) if issued[i] <= r]


def search_setup(spec: Spec) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, param_space, num_samples) for the spec's search settings."""
    metric, mode = spec.objective.metric, spec.objective.mode
    if spec.search.algorithm == "optuna":
        return CellSearch(spec, metric, mode), {}, len(spec.cells()) * spec.search.trials_per_cell
    # The last grid_search key varies fastest in Ray's expansion: put model size last so that
    # concurrent trials start on different sizes and share pretraining through the cache.
    grid = spec.grid_axes()
    space: dict[str, Any] = {}
    for name in [n for n in grid if n != "model.size"] + ["model.size"]:
        values = grid[name]
        space[name] = tune.grid_search(list(values)) if len(values) > 1 else values[0]
    for name, axis in spec.searched_axes().items():
        space[name] = _tune_domain(axis)
    samples = spec.search.trials_per_cell if spec.search.algorithm == "random" else 1
    return BasicVariantGenerator(random_state=spec.search.seed), space, samples


# ---------------------------------------------------------------------------------- MLflow + output


def _short(v: Any) -> str:
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
        self.rows[trial.trial_id] = {**trial.config, **{k: v for k, v in result.items() if "/" in k}}

    def _line(self, trial, status: str, reason: str = "") -> None:
        row = self.rows.get(trial.trial_id, dict(trial.config))
        axes = " ".join(f"{k}={_short(row[k])}" for k in self.grid + self.searched if k in row)
        score = row.get(self.spec.objective.metric)
        zs = row.get("xtreme/score")
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


# ---------------------------------------------------------------------------------------- driver


def _quiet_ray(log_file: Path) -> None:
    """Send Ray's driver-side logging to `log_file` instead of the terminal (trial errors are
    reported by our own one-line summaries; the full tracebacks stay in the file and in Tune's
    error.txt of each trial)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("ray", "ray.tune", "ray.train"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.addHandler(handler)
        lg.propagate = False


def _start_ray(address: str | None, cpus: int | None) -> bool:
    """Connect to `address` or start a local Ray; returns whether we started it (and must stop it)."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if ray.is_initialized():
        return False
    kwargs = dict(log_to_driver=False, logging_level=logging.ERROR, include_dashboard=False,
                  configure_logging=True)
    if address:
        ray.init(address=address, **kwargs)
        return False
    ray.init(num_cpus=cpus or os.cpu_count(), **kwargs)
    return True


def final_table(rows: list[dict[str, Any]], spec: Spec) -> str:
    """The grid sorted by the objective (failed trials last, with their reason)."""
    metric = spec.objective.metric
    cols = list(spec.grid_axes()) + list(spec.searched_axes())
    cols = [c for c in cols if len(spec.grid_axes().get(c, (0, 1))) > 1 or c in spec.searched_axes()]
    sign = -1 if spec.objective.mode == "max" else 1

    def key(r):
        v = r.get(metric)
        return (r.get("status") != "FINISHED", sign * v if isinstance(v, (int, float)) and math.isfinite(v) else math.inf)

    header = cols + [metric, "xtreme/score", "status"]
    body = []
    for r in sorted(rows, key=key):
        body.append([_short(r.get(c, "")) for c in cols] + [
            f"{r[metric]:.2f}" if isinstance(r.get(metric), (int, float)) else "-",
            f"{r['xtreme/score']:.2f}" if isinstance(r.get("xtreme/score"), (int, float)) else "-",
            r.get("status", "?") + (f": {r['reason'][:60]}" if r.get("reason") else ""),
        ])
    widths = [max(len(str(x)) for x in [h] + [row[i] for row in body]) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])] + [fmt.format(*row) for row in body]
    return "\n".join(lines)


def run_sweep(spec_path: str, out: str | None = None, tracking_uri: str | None = None, address: str | None = None,
              resume: bool = False, use_cache: bool = True, cache_dir: str | None = None,
              cpus: int | None = None, quiet: bool = False, retry_failed: bool = False) -> int:
    """Run (or resume) a sweep; returns the process exit code."""
    if retry_failed and not resume:
        raise UserError("--retry-failed: only with --resume (it reruns the FAILED trials of an earlier sweep)")
    spec = load_spec(spec_path)
    spec_text = Path(spec_path).read_text()
    # --out may be a URI (s3://, gs://): Tune keeps the sweep state there, so another head can resume
    # it; the driver's log, the default MLflow store and the default cache stay under sweeps/<name>/.
    out_uri = out.rstrip("/") if out and "://" in out else None
    sweep_dir = Path(out) if out and not out_uri else SWEEPS_ROOT / spec.name
    storage = out_uri or str(sweep_dir.resolve())
    sweeps_root = sweep_dir.resolve().parent
    # A URI (s3://, gs://) names a cache every node of a cluster shares, through pyarrow; keep it as is.
    cache_root = cache_dir if cache_dir and "://" in cache_dir else str(
        (Path(cache_dir) if cache_dir else sweeps_root / "cache").resolve())
    uri = tracking_uri or default_uri(sweeps_root)
    # Resolve relative data paths and check real data before Ray starts: trials run in their own
    # folders, and a missing dataset must be one clear error, not a failure in every trial.
    spec = prepare_spec(spec, spec_path, None if "://" in str(cache_root) else Path(cache_root))
    tune_path = f"{storage}/{TUNE_DIR}"
    if resume and not tune.Tuner.can_restore(tune_path):
        raise UserError(f"--resume: no sweep state to resume in {tune_path} (run without --resume first)")
    if not resume and _holds_files(tune_path):
        raise UserError(f"--out: {storage} already holds a sweep (use --resume to continue it, or another --out)")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    bench_line = ""
    if "://" not in cache_root:
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        if spec.benchmark.kind == "synthetic":
            # Generated once, here, rather than by the first trials side by side (each would build the
            # same files, then all but one would throw theirs away); later trials find it on disk.
            t_bench = time.time()
            bench_line = f"  benchmark: {make_benchmark(spec, Path(cache_root)).dir} (ready in {time.time() - t_bench:.0f}s)"

    tracker = Tracker(uri, spec.experiment_name, spec.name, storage)
    searcher, space, samples = search_setup(spec)
    resolved = {"spec": spec.model_dump(mode="json"), "cells": spec.cells(), "trials": samples * (
        1 if spec.search.algorithm == "optuna" else len(spec.cells())), "cache": cache_root,
        "tracking_uri": uri, "resume": resume}
    tracker.start_sweep({"spec.name": spec.name, "spec.file": str(spec_path), "resume": resume,
                         "cache": use_cache}, {"spec.yaml": spec_text, "resolved.json": json.dumps(resolved, indent=1, default=str)})
    total = resolved["trials"]
    print(f"xscale sweep {spec.name}: {len(spec.cells())} cells x {spec.search.trials_per_cell} trial(s), "
          f"{spec.search.algorithm} search, {spec.scheduler.kind} scheduler -> {storage}")
    print(f"  MLflow: {uri} (experiment {spec.experiment_name}); stage cache: "
          f"{cache_root if use_cache else 'off (--no-cache)'}")
    if bench_line:
        print(bench_line)

    started_ray = _start_ray(address, cpus)
    _quiet_ray(sweep_dir / "driver.log")
    callback = TrackingCallback(tracker, spec, total, quiet=quiet)
    status = "FAILED"
    t0 = time.time()
    try:
        trainable = tune.with_resources(
            functools.partial(trial_main, spec_json=spec.model_dump_json(), cache_root=cache_root, sweep_dir=storage,
                              use_cache=use_cache),
            {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial},
        )
        run_config = tune.RunConfig(
            name=TUNE_DIR, storage_path=storage, verbose=0, callbacks=[callback],
            failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
        )
        if resume:
            tuner = tune.Tuner.restore(tune_path, trainable, resume_unfinished=True, resume_errored=False,
                                       restart_errored=retry_failed)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric=spec.objective.metric, mode=spec.objective.mode, search_alg=searcher,
                    scheduler=_scheduler(spec), num_samples=samples,
                    max_concurrent_trials=spec.resources.max_concurrent_trials or None,
                    reuse_actors=True,
                ),
                run_config=run_config,
            )
        results = tuner.fit()
        rows = _rows(results, callback)
        finished = sum(r.get("status") == "FINISHED" for r in rows)
        interrupted = any(r.get("status") not in ("FINISHED", "FAILED") for r in rows)
        status = "KILLED" if interrupted else ("FINISHED" if finished else "FAILED")
    except KeyboardInterrupt:
        status, rows, finished = "KILLED", list(callback.rows.values()), 0
    finally:
        callback.close()
        _close_open_runs(tracker)
        if started_ray:
            ray.shutdown()
    pretrain_runs = sum(int(r.get("cache/computed/pretrain", 0)) for r in rows)
    compute = stage_compute(rows)
    tracker.end_sweep(status, {"sweep/trials_finished": finished, "sweep/trials_failed":
                               sum(r.get("status") == "FAILED" for r in rows), "sweep/pretrain_runs": pretrain_runs,
                               "sweep/wall_seconds": time.time() - t0,
                               **{f"sweep/compute_seconds/{k}": v for k, v in compute.items()}})
    print()
    print(final_table(rows, spec))
    print(f"\n{finished}/{len(rows)} trials finished in {time.time() - t0:.0f}s; pretraining ran {pretrain_runs} "
          f"time(s) ({len({r['model.size'] for r in rows if 'model.size' in r})} model size(s)); MLflow parent run {tracker.parent_id}")
    if compute:
        total = sum(compute.values())
        print("stage compute of the finished trials (cache hits cost none): " + ", ".join(
            f"{k} {v:.0f}s ({100 * v / total:.0f}%)" for k, v in sorted(compute.items(), key=lambda kv: -kv[1])))
    if status == "KILLED":
        print(f"interrupted: continue with `xscale sweep {spec_path} --resume"
              + (f" --out {out}" if out else "") + "`")
        return 130
    return 0 if finished else 1


def stage_compute(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of stage compute per stage kind over the trials' final reports (`time/compute/{stage}_seconds`)."""
    out: dict[str, float] = {}
    for r in rows:
        for k, v in r.items():
            if k.startswith("time/compute/"):
                stage = k[len("time/compute/"):].removesuffix("_seconds")
                out[stage] = out.get(stage, 0.0) + float(v)
    return out


def _holds_files(path: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    return bool(fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))


def _scheduler(spec: Spec):
    if spec.scheduler.kind == "asha":
        from ray.tune.schedulers import ASHAScheduler

        reports = 3 + len(spec.target.tasks)
        return ASHAScheduler(time_attr="training_iteration", grace_period=spec.scheduler.grace_period,
                             reduction_factor=spec.scheduler.reduction_factor, max_t=reports)
    return None


def _rows(results, callback: TrackingCallback) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        if not r.config:
            continue  # suggested but never started (the sweep was interrupted first)
        trial_id = r.metrics.get("trial_id") if r.metrics else None
        row = dict(callback.rows.get(trial_id, {})) if trial_id else {}
        row.update(r.config or {})
        row.update({k: v for k, v in (r.metrics or {}).items() if "/" in k})
        if r.error is not None:
            row["status"] = "FAILED"
            row.setdefault("reason", str(r.error).strip().splitlines()[-1] if str(r.error).strip() else "error")
        elif (r.metrics or {}).get("stage") == "done":
            row["status"] = "FINISHED"
        else:
            row["status"] = "STOPPED" if (r.metrics or {}).get("done") else "KILLED"
        rows.append(row)
    return rows


def _close_open_runs(tracker: Tracker) -> None:
    """Runs still RUNNING when the driver stops were interrupted (Ctrl-C): KILLED, resumable."""
    for run in tracker.runs():
        if run.info.status == "RUNNING":
            tracker.finish(run.info.run_id, "KILLED")
