"""Plain functions behind `xscale synth` and `xscale synth check` (the argparse wiring lives in xscale.cli).

User mistakes raise `xscale.errors.UserError`, which the CLI maps to exit code 2.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xscale.synth.check import format_table, run_checks
from xscale.synth.io import generate, read_manifest


def summary_table(manifest: dict) -> str:
    """Tasks x splits x rows of a benchmark, one line per task."""
    lines = [f"{'task':<10} {'role':<12} splits (rows)"]
    for name, entry in manifest["tasks"].items():
        splits = ", ".join(f"{split} {n}" for split, n in entry["splits"].items())
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
               **knobs: Any) -> int:
    """Run every check on the benchmark of each seed (generated under `out`, or a temporary folder),
    print the table, and return 0 only if every check holds."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="xscale-synth-check-") as tmp:
            return check_main(tmp, seeds, preset, **knobs)
    start = time.perf_counter()
    rows = run_checks(out, preset, seeds, **knobs)
    print(format_table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)}/{len(rows)} checks hold over seeds {', '.join(map(str, seeds))} "
          f"(preset {preset}) in {time.perf_counter() - start:.1f} s")
    return 0 if not failed else 1
