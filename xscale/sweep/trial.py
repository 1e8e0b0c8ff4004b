"""The Ray Tune trainable: one trial runs the pipeline for one grid point and reports after each stage.

The trial builds its data source and stage cache where it runs, and hands the pipeline a typed
`TrialPoint`; the pipeline knows nothing of Ray, so everything Tune needs (the report after each
stage, the cache counters) is added here.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path
from typing import Any

from ray import tune

from xscale.keys import TrialPoint, cell_id
from xscale.spec import Spec

CURVES = "curves"
"""The report field that carries training curves: {`{stage}/{task}`: [[step, loss, lr], ...]}."""
TAGS = "tags"
"""The report field that carries the run's text records ({tag: value})."""


def trial_main(config: dict[str, Any], spec_json: str, cache_root: str, use_cache: bool, sweep_dir: str = "") -> None:
    """Ray Tune function trainable: run the pipeline for one point and report after each stage."""
    import datasets
    import torch

    from xscale.cache import StageCache
    from xscale.data import make
    from xscale.pipeline import run_trial

    spec, hooks = _trial_hooks(Spec.model_validate_json(spec_json), config)
    datasets.disable_progress_bars()
    torch.set_num_threads(spec.resources.torch_threads)
    point = TrialPoint.from_config(config)
    cache = StageCache(cache_root, enabled=use_cache)
    # The synthetic benchmark is generated where it is read: beside a local cache, or in the node's
    # staging folder when the cache is an object store URI (every node derives the same data from the seed).
    data = make(spec, cache.staging if "://" in cache_root else Path(cache_root))
    stage_index = {"n": 0}
    sent: set[str] = set()

    def report(metrics: dict[str, float], stage: str, curves: dict | None = None, tags: dict | None = None) -> None:
        stage_index["n"] += 1
        computed: dict[str, int] = {}
        for name in cache.computed:
            computed[name.split("/")[0]] = computed.get(name.split("/")[0], 0) + 1
        extra = {f"cache/computed/{k}": v for k, v in computed.items()}
        # Each training curve travels once, with the report of the stage that made it.
        new = {k: v for k, v in (curves or {}).items() if k not in sent and v}
        sent.update(new)
        tune.report({**metrics, **extra, "stage": stage, "stage_index": stage_index["n"], CURVES: new,
                     TAGS: dict(tags or {})})
        if stage == hooks.get("kill_worker_after_stage"):
            _kill_worker_once(sweep_dir, point)

    final = run_trial(spec, point, cache, data, report, log=lambda msg: print(msg, flush=True))
    report(final, "done")


# Fault-injection hooks for tests/cluster, read by the trial (not the pipeline, which only knows
# `nan_after_steps`/`pretrain_nan_after_steps`) and removed from `spec.debug` before the pipeline sees
# it, so that they change no stage's cache key:
#   kill_worker_after_stage: SIGKILL the trial's worker process right after it reports that stage,
#     once per grid point and sweep (a marker file in <sweep folder>/debug/, so a local sweep only;
#     a retry, in a fresh or a reused actor, finds the marker and runs on);
#   only_for: {axis: value, ...}: every debug setting applies only to trials at that point of the grid;
#   kill_driver_at: one of DRIVER_KILL_POINTS, read by the driver (see kill_driver_once).
_TRIAL_HOOKS = ("kill_worker_after_stage", "only_for", "kill_driver_at")
KILL_MARKER = "xscale-debug-killed"


def _trial_hooks(spec: Spec, config: dict[str, Any]) -> tuple[Spec, dict[str, Any]]:
    if not any(k in spec.debug for k in _TRIAL_HOOKS):
        return spec, {}
    debug = dict(spec.debug)
    hooks = {k: debug.pop(k) for k in _TRIAL_HOOKS if k in debug}
    if any(config.get(k) != v for k, v in hooks.get("only_for", {}).items()):
        debug, hooks = {}, {}
    return spec.model_copy(update={"debug": debug}), hooks


DRIVER_KILL_POINTS = ("trial_start", "result_logged", "trial_complete", "summary")
"""Where `debug.kill_driver_at` SIGKILLs the driver, once per sweep folder (tests of exactly-once resume):
as the first trial starts, right after a result was queued for MLflow (asynchronously, so possibly
unwritten), right after a trial's run was marked FINISHED, and after the sweep, before its summary."""


def kill_driver_once(sweep_dir: str, debug: dict, point: str) -> None:
    """The driver's own fault hook: SIGKILL this process at `point` the first time it is reached."""
    if debug.get("kill_driver_at") != point or "://" in sweep_dir:
        return
    if _first_time(Path(sweep_dir) / "debug" / f"{KILL_MARKER}-driver-{point}"):
        os.kill(os.getpid(), signal.SIGKILL)


def _first_time(marker: Path) -> bool:
    """Create `marker`; False when it already existed (the fault already happened in this folder)."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    return True


def _kill_worker_once(sweep_dir: str, point: TrialPoint) -> None:
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(sweep_dir) if "://" in sweep_dir else (pafs.LocalFileSystem(), sweep_dir)
    if not root or not isinstance(fs, pafs.LocalFileSystem):
        raise ValueError("debug.kill_worker_after_stage needs a local --out")
    name = hashlib.sha256(cell_id(point.as_config()).encode()).hexdigest()[:16]
    if _first_time(Path(root) / "debug" / f"{KILL_MARKER}-{name}"):
        os.kill(os.getpid(), signal.SIGKILL)
