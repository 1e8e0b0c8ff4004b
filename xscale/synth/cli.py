"""The plain function behind `xscale synth` (the argparse wiring lives in xscale.cli).

User mistakes raise `xscale.errors.UserError`, which the CLI maps to exit code 2.
"""

from __future__ import annotations

import time
from pathlib import Path

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
