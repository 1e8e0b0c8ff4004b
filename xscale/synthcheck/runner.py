"""`xscale synth check`: run the data and model checks on the benchmark of several seeds."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xscale.synth.config import make_config
from xscale.synth.io import ensure
from xscale.synthcheck.data import CHECKS
from xscale.synthcheck.rows import Aggregate, Check, CheckRow, format_table, progress
from xscale.synthcheck.transfer import graded_means, model_checks

MODEL_CHECKS: dict[str, Check] = {"model": model_checks}
"""The checks that train models through the project's pipeline (minutes per seed)."""
AGGREGATES: dict[str, Aggregate] = {"model": graded_means}
"""Cross-seed rows, by the name of the check whose rows they read; appended after all seeds' rows."""


def run_checks(root: str | Path, preset: str = "default", seeds: Sequence[int] = (0, 1, 2),
               checks: dict[str, Check] | None = None, jobs: int = 1, **knobs: Any) -> list[CheckRow]:
    """Generate (or reuse) the benchmark of each seed under `root` and run every check on it.

    With `jobs` > 1 the seeds are checked side by side in that many processes (the model checks
    train single-threaded, so one process per core is the fast layout); rows keep the seeds' order."""
    checks = checks or CHECKS
    if jobs <= 1 or len(seeds) <= 1:
        rows = [row for seed in seeds for row in _seed_rows(root, preset, seed, checks, knobs)]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent may already hold torch's thread pools.
        with ProcessPoolExecutor(min(jobs, len(seeds)), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_seed_rows, root, preset, seed, checks, knobs) for seed in seeds]
            rows = [row for future in futures for row in future.result()]
    return rows + [row for name, aggregate in AGGREGATES.items() if name in checks for row in aggregate(rows)]


def _seed_rows(root: str | Path, preset: str, seed: int, checks: dict[str, Check],
               knobs: dict[str, Any]) -> list[CheckRow]:
    start = time.perf_counter()
    bench = ensure(root, preset, seed, **knobs)
    rows = []
    for name, check in checks.items():
        progress(seed, f"{name} checks ...")
        rows += check(bench, seed)
    progress(seed, f"done in {time.perf_counter() - start:.0f} s")
    return rows


def check_main(out: str | Path | None, seeds: Sequence[int] = (0, 1, 2), preset: str = "default",
               models: bool = True, jobs: int = 1, **knobs: Any) -> int:
    """Run every check on the benchmark of each seed (generated under `out`, or a temporary folder),
    print the table, and return 0 only if every check holds."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="xscale-synth-check-") as tmp:
            return check_main(tmp, seeds, preset, models, jobs, **knobs)
    start = time.perf_counter()
    checks = {**CHECKS, **MODEL_CHECKS} if models else CHECKS
    rows = run_checks(out, preset, seeds, checks=checks, jobs=jobs, **knobs)
    print(format_table(rows))
    test_size = make_config(preset, **knobs).test_size
    if test_size < 1000:
        # The shortcut margin is 5 points; a binary accuracy on n rows wobbles by 100*sqrt(0.25/n).
        print(f"note: test splits of {test_size} rows: sampling noise alone is about "
              f"±{100 * math.sqrt(0.25 / test_size):.1f} points (use >= 1000 rows for a meaningful check)")
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)}/{len(rows)} checks hold over seeds {', '.join(map(str, seeds))} "
          f"(preset {preset}) in {time.perf_counter() - start:.1f} s")
    return 0 if not failed else 1
