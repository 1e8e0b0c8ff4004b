"""Anchor checks: directions the literature agrees on, tested on every sweep before its answers are read.

A failing anchor means the benchmark or the recipe is off (a bug to explain), not a finding:
- zero-shot score rises with model size (Conneau et al. 2020, Phang et al. 2020);
- a learned intermediate task of the same kind as a target (MNLI-like -> XNLI-like, SQuAD-like ->
  XQuAD-like) does not hurt that target on average (Phang et al. 2020);
- on the embedded benchmark, the language ladder clone >= near > vso > sov > inv that its design builds in.

Each anchor is an interval over seeds. `>`-anchors hold when the interval lies above zero; `>=`-anchors
(no harm) hold unless the interval lies below zero. An anchor whose interval crosses zero where a
direction was expected is inconclusive; one whose interval lies on the wrong side fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xscale.analysis.fits import Estimate, paired_difference, slope
from xscale.analysis.table import AxisData, is_baseline
from xscale.keys import FRACTION, SEED, TASK
from xscale.tasks.registry import TASKS

HOLDS, FAILS, INCONCLUSIVE, NOT_APPLICABLE = "holds", "FAILS", "inconclusive", "not applicable"
LADDER = ("clone", "near", "vso", "sov", "inv")
LADDER_STRICT = {("clone", "near"): False}
"""Ladder steps that only need `>=` (clone and near share English grammar up to adjective order)."""


@dataclass(frozen=True)
class Anchor:
    name: str
    status: str
    estimate: Estimate | None
    detail: str


def verdict(e: Estimate | None, strict: bool) -> str:
    """HOLDS / FAILS / INCONCLUSIVE for an expected positive (strict) or non-negative effect."""
    if e is None or not e.has_interval:
        return INCONCLUSIVE
    if e.high < 0:
        return FAILS
    if not strict or e.low > 0:
        return HOLDS
    return INCONCLUSIVE


def size_anchor(size_axis: AxisData | None) -> Anchor | None:
    if size_axis is None or "zeroshot" not in size_axis.frame.columns:
        return None
    frame = size_axis.frame.dropna(subset=["zeroshot"])
    e, note = slope(frame["x"], frame["zeroshot"], frame[SEED], frame["series"])
    return Anchor("zero-shot score rises with model size", verdict(e, strict=True), e,
                  f"points per 10x {size_axis.x_label}" + (f"; {note}" if note else ""))


def related_pairs() -> list[tuple[str, str]]:
    """(intermediate task, target task) pairs of the same kind (the registry's `related`): NLI and XNLI,
    extractive QA and XQuAD/MLQA/TyDiQA, paraphrase and PAWS-X."""
    return [(t.name, target) for t in TASKS.values() if t.role == "intermediate" for target in t.related]


def related_anchors(points: pd.DataFrame, answer_tasks: dict[str, str]) -> list[Anchor]:
    """Per related (intermediate, target) pair present and learned: the target's zero-shot score with the
    intermediate task at its largest fraction minus the baseline without intermediate training, paired by
    seed and by the other axes."""
    if TASK not in points.columns:
        return []
    out = []
    baseline = points[points.apply(is_baseline, axis=1)]
    for inter, target in related_pairs():
        column = f"zeroshot/{target}"
        if column not in points.columns or target not in answer_tasks or baseline.empty:
            continue
        trained = points[(points[TASK].astype(str) == inter) & ~points.apply(is_baseline, axis=1)]
        if "int_learned" in trained.columns:
            trained = trained[trained["int_learned"].fillna(1.0) == 1.0]
        if FRACTION in trained.columns and len(trained):
            trained = trained[trained[FRACTION] == trained[FRACTION].max()]
        if trained.empty:
            continue
        e = paired_difference(_per_seed(trained, column), _per_seed(baseline, column))
        out.append(Anchor(f"learned {inter}-like intermediate training does not hurt {target}-like", verdict(e, False),
                          e, "zero-shot points, intermediate task minus no intermediate task"))
    return out


def _per_seed(frame: pd.DataFrame, column: str) -> dict:
    """Per seed, the mean of `column` over the other axes (the same cells for both sides of a pair)."""
    return frame.dropna(subset=[column]).groupby(SEED)[column].mean().to_dict()


def ladder_anchors(points: pd.DataFrame) -> list[Anchor]:
    """clone >= near > vso > sov > inv on the mean zero-shot score over answer tasks, per seed."""
    present = [lang for lang in LADDER if f"lang/{lang}" in points.columns]
    if len(present) < 2:
        return []
    out = []
    for hi, lo in zip(present, present[1:]):
        strict = LADDER_STRICT.get((hi, lo), True)
        e = paired_difference(_per_seed(points, f"lang/{hi}"), _per_seed(points, f"lang/{lo}"))
        out.append(Anchor(f"language ladder {hi} {'>' if strict else '>='} {lo}", verdict(e, strict), e,
                          "zero-shot points, mean over learned tasks"))
    return out


def all_anchors(points: pd.DataFrame, answer_tasks: dict[str, str], size_axis: AxisData | None) -> list[Anchor]:
    """Every anchor this sweep can test; one `not applicable` entry, with the reason, for each it cannot."""
    size = size_anchor(size_axis)
    anchors = [size] if size is not None else [
        Anchor("zero-shot score rises with model size", NOT_APPLICABLE, None, "model size does not vary")]
    related = related_anchors(points, answer_tasks) if len(points) else []
    anchors += related or [Anchor("a learned related intermediate task does not hurt its target", NOT_APPLICABLE,
                                  None, "no learned (intermediate, target) pair of the same kind with a baseline")]
    ladder = ladder_anchors(points) if len(points) else []
    anchors += ladder or [Anchor("language ladder clone >= near > vso > sov > inv", NOT_APPLICABLE, None,
                                 "not the synthetic languages")]
    return [a for a in anchors if a.estimate is None or np.isfinite(a.estimate.value)]
