"""The rows every check of `xscale synth check` produces, and how they are printed.

Each check is a function from a generated benchmark and its seed to rows `(check, seed, measured,
threshold, ok)`; accuracies and F1 are in percent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple


class CheckRow(NamedTuple):
    """One measurement: `ok` says whether `measured` is within `threshold`."""

    check: str
    seed: int
    measured: float
    threshold: float
    ok: bool


Check = Callable[[Path, int], list[CheckRow]]
Aggregate = Callable[[list[CheckRow]], list[CheckRow]]
"""Rows computed from every seed's rows of one check (e.g. a mean over the seeds)."""
MEAN_SEED = -1
"""The `seed` of a row that aggregates all seeds; the table prints it as "mean"."""


def progress(seed: int, message: str) -> None:
    """One progress line on stderr (the table goes to stdout); seeds checked side by side interleave."""
    print(f"synth check, seed {seed}: {message}", file=sys.stderr, flush=True)


def format_table(rows: Sequence[CheckRow]) -> str:
    """A plain-text table of check rows, failures marked."""
    width = max([len("check")] + [len(r.check) for r in rows])
    lines = [f"{'check':<{width}}  {'seed':>4}  {'measured':>9}  {'threshold':>9}  ok"]
    for r in rows:
        seed = "mean" if r.seed == MEAN_SEED else r.seed
        lines.append(f"{r.check:<{width}}  {seed:>4}  {r.measured:>9.3f}  {r.threshold:>9.3f}  "
                     f"{'yes' if r.ok else 'NO'}")
    return "\n".join(lines)
