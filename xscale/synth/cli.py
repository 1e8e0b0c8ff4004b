"""Plain functions behind `xscale synth` and `xscale synth check` (the argparse wiring lives in xscale.cli).

User mistakes raise `xscale.errors.UserError`, which the CLI maps to exit code 2.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xscale.synth.check import CHECKS, MODEL_CHECKS, format_table, run_checks
from xscale.synth.config import make_config
from xscale.synth.io import generate, read_manifest
from xscale.synth.tasks import INTERMEDIATE_TASKS, TARGET_TASKS


def summary_table(manifest: dict) -> str:
    """Tasks x splits x rows of a benchmark, one line per task (registry and language order)."""
    languages = manifest["languages"]

    def split_order(split: str) -> tuple[int, int]:
        kind, _, lang = split.partition(".")
        return ("train", "validation", "test").index(kind), languages.index(lang) if lang else -1

    lines = [f"{'task':<10} {'role':<12} splits (rows)"]
    for name in [t for t in INTERMEDIATE_TASKS + TARGET_TASKS if t in manifest["tasks"]]:
        entry = manifest["tasks"][name]
        splits = ", ".join(f"{split} {entry['splits'][split]}" for split in sorted(entry["splits"], key=split_order))
        lines.append(f"{name:<10} {entry['role']:<12} {splits}")
    return "\n".join(lines)


def synth_main(out: str | Path, preset: str = "default", seed: int = 0) -> int:
    """Generate the benchmark at `out` and print what was generated; returns the exit code."""
    start = time.perf_counter()
    bench = generate(out, preset, seed)
    seconds = time.perf_counter() - start
    manifest = read_manifest(bench)
    print(summary_table(manifest))
    print(f"corpus: {manifest['corpus_tokens']} tokens in {manifest['corpus_documents']} documents; "
          f"vocabulary: {manifest['vocab_size']} tokens; languages: {', '.join(manifest['languages'])}")
    print(f"wrote {bench} (preset {preset}, seed {seed}, hash {manifest['hash'][:12]}) in {seconds:.1f} s")
    return 0


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
