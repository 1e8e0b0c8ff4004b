"""`xscale sweep`: start or join Ray, open the sweep's MLflow runs, run Tune, print the summary.

Where things go: Tune's state under `--out` (a folder or an object-store URI, so another head can
resume it), the stage cache (`--cache-dir`), the MLflow store (`--tracking-uri`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from xscale.data import make as make_data, prepare_spec
from xscale.errors import UserError
from xscale.keys import SIZE, XTREME_SCORE, parse_compute
from xscale.spec import Spec, load_spec
from xscale import sweepfolder
from xscale.sweep.callback import TrackingCallback, short
from xscale.sweep.scheduler import CellHalving
from xscale.sweep.search import Reconciled, search_setup
from xscale.sweep.trial import kill_driver_once, trial_main
from xscale.tracking import TRIAL_KEY, Tracker, check_uri, default_uri

log = logging.getLogger("xscale")
SWEEPS_ROOT = Path("sweeps")
TUNE_DIR = "tune"


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

    header = cols + [metric, XTREME_SCORE, "status"]
    body = []
    for r in sorted(rows, key=key):
        body.append([short(r.get(c, "")) for c in cols] + [
            f"{r[metric]:.2f}" if isinstance(r.get(metric), (int, float)) else "-",
            f"{r[XTREME_SCORE]:.2f}" if isinstance(r.get(XTREME_SCORE), (int, float)) else "-",
            r.get("status", "?") + (f": {r['reason'][:60]}" if r.get("reason") else ""),
        ])
    widths = [max(len(str(x)) for x in [h] + [row[i] for row in body]) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])] + [fmt.format(*row) for row in body]
    return "\n".join(lines)


@dataclass(frozen=True)
class Places:
    """Where one sweep writes: Tune's trial folders and the sweep record (`storage`: a folder or an
    object-store URI), the driver's log (`local`), the stage cache and the MLflow store."""

    storage: str
    local: Path
    cache_root: str
    tracking_uri: str


def places(spec: Spec, out: str | None, cache_dir: str | None, tracking_uri: str | None) -> Places:
    """Everything goes under `--out` (default `sweeps/<name>/`, with the cache and the MLflow store
    shared by all sweeps in `sweeps/`) unless `--cache-dir` / `--tracking-uri` say otherwise. Checks the
    tracking URI before anything is created."""
    uri_out = out.rstrip("/") if out and "://" in out else None
    local = Path(out) if out and not uri_out else SWEEPS_ROOT / spec.name
    root = local.resolve() if out else SWEEPS_ROOT.resolve()
    # A URI (s3://, gs://) names a cache every node of a cluster shares, through pyarrow; keep it as is.
    cache = cache_dir if cache_dir and "://" in cache_dir else str((Path(cache_dir) if cache_dir else root / "cache").resolve())
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(root)
    problem = check_uri(uri)
    if problem:
        raise UserError(f"--tracking-uri: {uri}: {problem}")
    return Places(uri_out or str(local.resolve()), local, cache, uri)


def run_sweep(spec_path: str, out: str | None = None, tracking_uri: str | None = None, address: str | None = None,
              resume: bool = False, use_cache: bool = True, cache_dir: str | None = None,
              cpus: int | None = None, quiet: bool = False, retry_failed: bool = False) -> int:
    """Run (or resume) a sweep; returns the exit code: 0 every trial finished, 1 some trial failed,
    130 interrupted (continue with --resume)."""
    if retry_failed and not resume:
        raise UserError("--retry-failed: only with --resume (it reruns the FAILED trials of an earlier sweep)")
    spec = load_spec(spec_path)
    spec_text = Path(spec_path).read_text()
    where = places(spec, out, cache_dir, tracking_uri)
    # Resolve relative data paths and check real data before Ray starts: trials run in their own
    # folders, and a missing dataset must be one clear error, not a failure in every trial.
    spec = prepare_spec(spec, spec_path, None if "://" in where.cache_root else Path(where.cache_root))
    record = sweepfolder.read(where.storage)
    if resume and record is None:
        raise UserError(f"--resume: {where.storage} holds no sweep to resume (run without --resume first)")
    if not resume and (record is not None or _holds_files(f"{where.storage}/{TUNE_DIR}")):
        raise UserError(f"--out: {where.storage} already holds a sweep (use --resume to continue it, or another --out)")
    spec_sha = hashlib.sha256(spec_text.encode()).hexdigest()
    if record is None:
        record = sweepfolder.SweepRecord.new(spec.name, spec.experiment_name, where.tracking_uri, spec_sha)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or record.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)  # the store's folder, e.g. --out
    tracker = Tracker(uri, record.experiment, spec.name, where.storage, record.sweep_id)
    reconciled = reconcile(tracker, spec, retry_failed) if resume else Reconciled()
    searcher = search_setup(spec, reconciled)
    if resume:
        tracker.close_dead_parents()
        if not searcher.queue:
            print(f"nothing to resume in {where.storage}: {len(reconciled.done)} trial(s) finished"
                  + (f", {len(reconciled.failed)} FAILED (rerun them with --retry-failed)" if reconciled.failed else ""))
            return 1 if reconciled.failed else 0
        if record.spec_sha256 != spec_sha:
            print(f"note: {spec_path} changed since the sweep started; its finished trials are kept as they are")
    sweepfolder.write(where.storage, record)
    where.local.mkdir(parents=True, exist_ok=True)
    bench_line = ""
    if "://" not in where.cache_root:
        Path(where.cache_root).mkdir(parents=True, exist_ok=True)
        if spec.benchmark.kind == "synthetic":
            # Generated once, here, rather than by the first trials side by side (each would build the
            # same files, then all but one would throw theirs away); later trials find it on disk.
            t_bench = time.time()
            bench_line = f"  benchmark: {make_data(spec, Path(where.cache_root)).dir} (ready in {time.time() - t_bench:.0f}s)"

    total = len(searcher.queue)
    resolved = {"spec": spec.model_dump(mode="json"), "cells": spec.cells(), "trials": total,
                "cache": where.cache_root, "tracking_uri": uri, "resume": resume,
                "finished_before": sorted(reconciled.done), "rerun": sorted(reconciled.redo)}
    primary = [e.model_dump() for e in spec.analysis.primary]
    tracker.start_sweep({"spec.name": spec.name, "spec.file": str(spec_path), "resume": resume, "cache": use_cache,
                         "analysis.primary": json.dumps(primary) if primary else ""},
                        {"spec.yaml": spec_text, "resolved.json": json.dumps(resolved, indent=1, default=str)},
                        provenance(spec_text))
    print(f"xscale sweep {spec.name}: {total} trial(s) to run ({len(spec.cells())} cells x "
          f"{searcher.budget} trial(s), {spec.search.algorithm} search, {spec.scheduler.kind} scheduler"
          + (f"; {len(reconciled.done)} finished before, {len(reconciled.redo)} to rerun" if resume else "")
          + f") -> {where.storage}")
    print(f"  MLflow: {uri} (experiment {record.experiment}); stage cache: "
          f"{where.cache_root if use_cache else 'off (--no-cache)'}")
    if bench_line:
        print(bench_line)

    started_ray = _start_ray(address, cpus)
    _quiet_ray(where.local / "driver.log")
    callback = TrackingCallback(tracker, spec, total, quiet=quiet, sweep_dir=where.storage)
    status = "FAILED"
    t0 = time.time()
    try:
        trainable = tune.with_resources(
            functools.partial(trial_main, spec_json=spec.model_dump_json(), cache_root=where.cache_root,
                              sweep_dir=where.storage, use_cache=use_cache),
            {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                metric=spec.objective.metric, mode=spec.objective.mode, search_alg=searcher,
                scheduler=_scheduler(spec), num_samples=-1,  # the searcher says when the sweep is done
                max_concurrent_trials=spec.resources.max_concurrent_trials or None, reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=_invocation_name(where.storage, resume), storage_path=where.storage, verbose=0,
                callbacks=[callback], failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
            ),
        )
        results = tuner.fit()
        rows = _rows(results, callback)
        finished = sum(r.get("status") == "FINISHED" for r in rows)
        failed = sum(r.get("status") == "FAILED" for r in rows)
        interrupted = any(r.get("status") not in ("FINISHED", "FAILED", "STOPPED") for r in rows)
        status = "KILLED" if interrupted else ("FINISHED" if finished else "FAILED")
    except KeyboardInterrupt:
        status, rows, finished, failed = "KILLED", list(callback.rows.values()), 0, 0
    finally:
        callback.close()
        _close_open_runs(tracker)
        if started_ray:
            ray.shutdown()
    kill_driver_once(where.storage, spec.debug, "summary")
    pretrain_runs = sum(int(r.get("cache/computed/pretrain", 0)) for r in rows)
    compute = stage_compute(rows)
    tracker.end_sweep(status, {"sweep/trials_finished": finished, "sweep/trials_failed": failed,
                               "sweep/pretrain_runs": pretrain_runs, "sweep/wall_seconds": time.time() - t0,
                               **{f"sweep/compute_seconds/{k}": v for k, v in compute.items()}})
    print()
    print(final_table(rows, spec))
    print(f"\n{finished}/{len(rows)} trials finished in {time.time() - t0:.0f}s; pretraining ran {pretrain_runs} "
          f"time(s) ({len({r[SIZE] for r in rows if SIZE in r})} model size(s)); MLflow parent run {tracker.parent_id}")
    if compute:
        total_s = sum(compute.values())
        print("stage compute of the finished trials (cache hits cost none): " + ", ".join(
            f"{k} {v:.0f}s ({100 * v / total_s:.0f}%)" for k, v in sorted(compute.items(), key=lambda kv: -kv[1])))
    again = f"xscale sweep {spec_path}" + (f" --out {out}" if out else "")
    if status == "KILLED":
        print(f"interrupted: continue with `{again} --resume`")
        return 130
    if failed:
        print(f"{failed} trial(s) FAILED (reasons and error files above); after a fix: `{again} --resume --retry-failed`")
    report_dir = out or str(where.local)
    print(f"next: `xscale report {report_dir}`, then `mlflow ui --backend-store-uri {uri} --host 127.0.0.1`")
    return 1 if failed or not finished else 0


def reconcile(tracker: Tracker, spec: Spec, retry_failed: bool) -> Reconciled:
    """Read what earlier invocations left in the tracking store, per trial key: a FINISHED run makes its
    key done; a RUNNING one belongs to a dead driver (recorded as KILLED) and, like a KILLED one, is run
    again with its configuration; a FAILED one is run again with --retry-failed, else it stays failed."""
    by_key: dict[str, list] = {}
    for run in tracker.runs():
        key = run.data.tags.get(TRIAL_KEY)
        if key:
            by_key.setdefault(key, []).append(run)
    searched = list(spec.searched_axes())
    out = Reconciled()
    for key, runs in by_key.items():
        runs.sort(key=lambda r: r.info.start_time or 0, reverse=True)
        finished = [r for r in runs if r.info.status == "FINISHED"]
        if finished:
            metric = finished[0].data.metrics.get(spec.objective.metric)
            out.done[key] = (_values(finished[0].data.params, searched), metric)
            continue
        latest = runs[0]
        if latest.info.status == "RUNNING":
            tracker.finish(latest.info.run_id, "KILLED")
        if latest.info.status == "FAILED" and not retry_failed:
            out.failed.add(key)
        else:
            out.redo[key] = _values(latest.data.params, searched)
    return out


def _values(params: dict[str, str], names: list[str]) -> dict[str, Any]:
    """Searched values as MLflow params hold them (strings), back to numbers where they are numbers."""
    out = {}
    for name in names:
        text = params.get(name)
        for cast in (int, float, str):
            try:
                out[name] = cast(text)
                break
            except (TypeError, ValueError):
                continue
    return out


def _invocation_name(storage: str, resume: bool) -> str:
    """Tune's folder for this invocation: `tune` for the first, `tune-resume-N` after it."""
    if not resume:
        return TUNE_DIR
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(storage) if "://" in storage else (pafs.LocalFileSystem(), storage)
    names = {info.base_name for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))}
    n = 1
    while f"{TUNE_DIR}-resume-{n}" in names:
        n += 1
    return f"{TUNE_DIR}-resume-{n}"


def provenance(spec_text: str) -> dict[str, str]:
    """Tags that say what made a sweep: the git commit of the code, the library versions, the spec's hash."""
    from importlib.metadata import PackageNotFoundError, version

    tags = {"xscale.spec_sha256": hashlib.sha256(spec_text.encode()).hexdigest()}
    for package in ("xscale", "torch", "transformers", "ray", "mlflow", "optuna", "datasets"):
        try:
            tags[f"xscale.version.{package}"] = version(package)
        except PackageNotFoundError:
            pass
    tags["xscale.version.python"] = platform.python_version()
    source = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    if commit:
        tags["xscale.git_commit"] = commit + ("-dirty" if dirty else "")
    return tags


def stage_compute(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of stage compute per stage kind over the trials' final reports (`time/compute/{stage}_seconds`)."""
    out: dict[str, float] = {}
    for r in rows:
        for k, v in r.items():
            stage = parse_compute(k)
            if stage is not None:
                out[stage] = out.get(stage, 0.0) + float(v)
    return out


def _holds_files(path: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    return bool(fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))


def _scheduler(spec: Spec):
    return CellHalving(spec) if spec.scheduler.kind == "asha" else None


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
