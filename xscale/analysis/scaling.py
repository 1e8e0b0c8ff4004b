"""Every number the report quotes, computed once from the trial rows of a sweep.

- Effects: the slope of a quantity per decade (10x) of a scale quantity, pooled over the other axes
  (one intercept per combination of them), as a t interval over per-seed slopes. One effect per
  question is primary (declared in the spec's `analysis.primary`); every other one is secondary and
  its interval is Holm-corrected over the family of secondary effects.
- Q2 extras: the gain of intermediate training over the baseline without it, paired by seed, and the
  difference between the data slope and the pretraining slope, paired by seed.
- Anchors (`anchors.py`) and the extrapolation check: fit the size ladder without its largest rung and
  compare the prediction for it with what it scored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xscale import keys
from xscale.analysis.anchors import Anchor, all_anchors
from xscale.analysis.fits import LEVEL, Estimate, PowerLaw, fit_power_law, holm, paired_difference, seed_slope, \
    slope, t_interval
from xscale.analysis.table import (
    AXES,
    AXIS_BY_KEY,
    AXIS_BY_PARAM,
    AxisData,
    Gated,
    axis_points,
    gate_and_score,
    is_baseline,
    primary_metrics,
    seed_points,
    select_best,
)
from xscale.keys import CHECKPOINT, FRACTION, SEED, SIZE, TASK

STAGES = ("pretrain", "intermediate", "target")
PROBE_METRICS = {"retrieval": "accuracy", "cka": "cka", "cka_debiased": "cka"}
"""Reported metric of each probe (a `_mid` probe reads the middle layer and reports the same metric)."""
ALIGNED_MARGIN = {"retrieval": 10.0, "cka": 0.05, "cka_debiased": 0.05}
"""How far a pretrained encoder's probe must exceed the same probe on a random-init encoder of its size
for the encoder to count as aligned: an encoder that never aligned has no alignment to retain, so its
retention ratio and drop are noise, kept out of their fits (the alignment gate)."""
EXTRAPOLATION_DECADES = 1.5
"""Non-embedding parameters the size ladder must span for the extrapolation check."""
DEFAULT_PRIMARY = {"Q1": ("align/drop/retrieval/avg", SIZE), "Q2": ("zeroshot", FRACTION)}


@dataclass(frozen=True)
class Quantity:
    """A per-run column the report fits, with its wording and unit."""

    column: str
    label: str
    unit: str = "points"
    digits: int = 2
    up: str = "rises"
    down: str = "falls"


def quantity(column: str) -> Quantity:
    """The wording of a quantity by its column name (see the module docstring of `table.py`)."""
    if column == "zeroshot":
        return Quantity(column, "zero-shot score", up="zero-shot transfer improves", down="zero-shot transfer gets worse")
    if column.startswith("zeroshot/"):
        return Quantity(column, f"zero-shot {column.split('/', 1)[1]} score")
    if column == "worst_lang":
        return Quantity(column, "worst-language score", up="the worst language improves",
                        down="the worst language gets worse")
    if column == "lang_spread":
        return Quantity(column, "across-language std", up="languages drift apart (less robust)",
                        down="languages move closer together (more robust)")
    if column == "gap":
        return Quantity(column, "transfer gap (English minus the mean of the others)", up="the gap widens",
                        down="the gap narrows")
    m = re.match(r"^align/(retention|drop)(_target)?/([^/]+)/avg$", column)
    if m:
        kind, after, probe = m.group(1), "target" if m.group(2) else "intermediate", m.group(3)
        what = _probe_label(probe)
        if kind == "drop":
            return Quantity(column, f"drop in {what} after {after} training", _probe_unit(probe), 3 if "cka" in probe else 2,
                            up="larger models lose more alignment", down="larger models lose less alignment")
        return Quantity(column, f"retention of {what} after {after} training", "(ratio)", 3,
                        up="larger models retain more alignment", down="larger models retain less alignment")
    m = re.match(r"^(align|excess)/([^/]+)/([^/]+)/avg(?:/([^/]+))?$", column)
    if m:
        what = _probe_label(m.group(3))
        prefix = "excess over random init of " if m.group(1) == "excess" else ""
        return Quantity(column, f"{prefix}{what} after {m.group(2)}", _probe_unit(m.group(3)),
                        3 if "cka" in m.group(3) else 2, up="alignment rises", down="alignment falls")
    return Quantity(column, column)


def _probe_label(probe: str) -> str:
    base = probe.removesuffix("_mid")
    layer = " (middle layer)" if probe.endswith("_mid") else ""
    return {"retrieval": "retrieval alignment", "cka": "linear CKA", "cka_debiased": "debiased CKA"}.get(base, base) + layer


def _probe_unit(probe: str) -> str:
    return "(CKA)" if "cka" in probe else "points"


@dataclass
class Effect:
    """A slope of a quantity against an axis, with its role and interval."""

    quantity: Quantity
    axis: str
    per: str
    estimate: Estimate | None
    note: str = ""
    role: str = "secondary"
    question: str = ""
    holm_level: float | None = None

    @property
    def reported(self) -> Estimate | None:
        """The estimate at the level the report quotes (Holm-corrected for secondary effects)."""
        if self.estimate is None or self.holm_level is None:
            return self.estimate
        return self.estimate.at_level(self.holm_level)


@dataclass
class Extrapolation:
    largest: str
    predicted: Estimate
    observed: Estimate
    miss: Estimate
    decades: float


@dataclass
class Analysis:
    runs: pd.DataFrame
    selected: pd.DataFrame
    unranked: pd.DataFrame
    gated: Gated
    points: pd.DataFrame
    tasks: dict[str, str]
    probes: dict[str, str]
    axes: dict[str, AxisData]
    effects: list[Effect] = field(default_factory=list)
    primary: dict[str, tuple[str, str]] = field(default_factory=dict)
    primary_notes: dict[str, str] = field(default_factory=dict)
    anchors: list[Anchor] = field(default_factory=list)
    extrapolation: Extrapolation | None = None
    extrapolation_note: str = ""
    gains: pd.DataFrame | None = None
    difference: Estimate | None = None
    dropped: list[str] = field(default_factory=list)
    """Run ids of trial keys logged twice that were left out (the latest FINISHED run of a key is kept)."""
    task_effects: dict[tuple[str, str], Estimate] = field(default_factory=dict)
    """(intermediate task, target task or `zeroshot`) -> zero-shot difference to no intermediate task."""

    def find(self, column: str, axis: str) -> Effect | None:
        for e in self.effects:
            if e.quantity.column == column and e.axis == axis:
                return e
        return None

    def primary_effect(self, question: str) -> Effect | None:
        for e in self.effects:
            if e.role == "primary" and e.question == question:
                return e
        return None

    @property
    def seeds(self) -> list:
        return sorted(self.points[SEED].unique()) if len(self.points) and SEED in self.points.columns else []


def find_probes(frame: pd.DataFrame) -> dict[str, str]:
    """Alignment probes and their reported metric, from `align/{after}/{probe}/avg/{metric}`."""
    found: dict[str, set[str]] = {}
    for column in frame.columns:
        parsed = keys.parse_align(str(column))
        if parsed and parsed.stage in STAGES and parsed.lang == keys.AVG and frame[column].notna().any():
            found.setdefault(parsed.task, set()).add(parsed.metric)
    known = [p for base in PROBE_METRICS for p in (base, base + "_mid")]
    order = sorted(found, key=lambda p: (known.index(p) if p in known else len(known), p))
    return {p: PROBE_METRICS.get(p.removesuffix("_mid"), sorted(found[p])[0]) for p in order
            if PROBE_METRICS.get(p.removesuffix("_mid"), "") in found[p] or p.removesuffix("_mid") not in PROBE_METRICS}


def _add_excess(points: pd.DataFrame, probes: dict[str, str]) -> pd.DataFrame:
    """`excess/{after}/{probe}/avg`: a probe minus the same probe on a random-init encoder of that size."""
    out = points.copy()
    for probe, metric in probes.items():
        random = keys.align("random", probe, keys.AVG, metric)
        if random not in out.columns:
            continue
        for after in STAGES:
            column = keys.align(after, probe, keys.AVG, metric)
            if column in out.columns:
                out[f"excess/{after}/{probe}/avg"] = out[column] - out[random]
    return out


def declared_primary(parent: dict) -> dict[str, tuple[str, str]]:
    """The spec's primary endpoints ({question: (quantity, axis param)}), as the sweep recorded them."""
    raw = (parent.get("params") or {}).get("analysis.primary")
    if raw:
        return {e["question"]: (e["quantity"], e["axis"]) for e in json.loads(raw)}
    return dict(DEFAULT_PRIMARY)


def analyse(runs: pd.DataFrame, primary: dict[str, tuple[str, str]] | None = None) -> Analysis:
    """Select the best trial per cell, gate and score, then every effect, anchor and check."""
    dropped = list(runs.attrs.get("dropped", []))
    selected, unranked = select_best(runs)
    runs = runs.assign(selected=runs["run_id"].isin(selected["run_id"]))
    tasks = primary_metrics(selected)
    gated = gate_and_score(selected, tasks)
    points = seed_points(gated.frame) if len(selected) else pd.DataFrame()
    probes = find_probes(points) if len(points) else {}
    if len(points):
        points = _add_excess(points, probes)
    axes = {axis.key: data for axis in AXES if len(points) and (data := axis_points(points, axis)) is not None}
    result = Analysis(runs, selected, unranked, gated, points, gated.answer_tasks, probes, axes)
    result.dropped = dropped
    result.primary = dict(DEFAULT_PRIMARY if primary is None else primary)
    _effects(result)
    _mark_primary(result)
    _holm(result)
    _q2_extras(result)
    result.task_effects = _task_effects(result)
    result.anchors = all_anchors(points, gated.answer_tasks, axes.get("size")) if len(points) else []
    result.extrapolation, result.extrapolation_note = _extrapolate(result)
    return result


def _quantities(analysis: Analysis, axis: str) -> list[str]:
    columns = ["zeroshot"]
    if len(analysis.tasks) > 1:
        columns += [f"zeroshot/{t}" for t in analysis.tasks]
    columns += ["worst_lang", "lang_spread", "gap"]
    if axis == "size":
        for probe in analysis.probes:
            columns += [keys.retention(probe, after, kind) for after in ("intermediate", "target")
                        for kind in ("drop", "ratio")]
            columns += [f"excess/pretrain/{probe}/avg"]
    return [c for c in columns if c in analysis.axes[axis].frame.columns]


def _effects(analysis: Analysis) -> None:
    for key, data in analysis.axes.items():
        per = _per(data)
        for column in _quantities(analysis, key):
            frame = data.frame.dropna(subset=[column])
            if column.startswith(("align/retention/", "align/drop/")) and TASK in frame.columns:
                # Alignment kept after intermediate training: the baseline trains no intermediate stage.
                frame = frame[~frame.apply(is_baseline, axis=1)] if len(frame) else frame
            if column.startswith(("align/retention", "align/drop")):
                frame = frame[aligned(frame, column.split("/")[2])] if len(frame) else frame
            if frame.empty:
                continue
            e, note = slope(frame["x"], frame[column], frame[SEED], frame["series"])
            analysis.effects.append(Effect(quantity(column), key, per, e, note))


def aligned(frame: pd.DataFrame, probe: str) -> pd.Series:
    """The alignment gate: True where the pretrained encoder beats its random-init reference on `probe` by
    `ALIGNED_MARGIN` (True everywhere when no reference was probed)."""
    metric = PROBE_METRICS.get(probe.removesuffix("_mid"))
    excess = f"excess/pretrain/{probe}/avg"
    if metric is None or excess not in frame.columns:
        return pd.Series(True, index=frame.index)
    return frame[excess] >= ALIGNED_MARGIN[probe.removesuffix("_mid")]


def _per(data: AxisData) -> str:
    return data.x_label


def _mark_primary(analysis: Analysis) -> None:
    for question, (column, param) in analysis.primary.items():
        axis = AXIS_BY_PARAM.get(param)
        if axis is None or axis.key not in analysis.axes:
            analysis.primary_notes[question] = f"`{param}` does not vary among the finished trials"
            continue
        effect = analysis.find(column, axis.key)
        if effect is None:
            analysis.primary_notes[question] = _missing_reason(analysis, column)
            continue
        effect.role, effect.question = "primary", question


def _missing_reason(analysis: Analysis, column: str) -> str:
    if column.startswith("zeroshot") and not analysis.tasks:
        failed = ", ".join(sorted(analysis.gated.failed)) or "none"
        return f"no target task learned in English in every trial (did not learn: {failed})"
    if column.startswith(("align/", "excess/")) and not analysis.probes:
        return "no alignment probes were logged"
    return f"`{column}` was not logged or has no usable points"


def _holm(analysis: Analysis) -> None:
    secondary = [e for e in analysis.effects if e.role == "secondary" and e.estimate is not None]
    levels = holm([e.estimate.p_value for e in secondary])
    for e, level in zip(secondary, levels):
        e.holm_level = level


def _q2_extras(analysis: Analysis) -> None:
    """Gain over the no-intermediate baseline per fraction (paired by seed and the other axes), and the
    data slope minus the pretraining slope (paired by seed)."""
    points = analysis.points
    if len(points) and FRACTION in points.columns and "zeroshot" in points.columns:
        base_rows = points[points.apply(is_baseline, axis=1)]
        trained = points[~points.apply(is_baseline, axis=1) & (points["int_ok"] == 1.0)]
        if len(base_rows) and len(trained):
            others = [k for k in (SIZE, CHECKPOINT) if k in points.columns]
            base = base_rows.groupby(others + [SEED])["zeroshot"].mean()
            rows = []
            for (task, fraction), sub in trained.groupby([trained[TASK].astype(str), FRACTION]):
                diff = sub.set_index(others + [SEED])["zeroshot"] - base
                per_seed = diff.dropna().groupby(level=SEED).mean()
                examples = sub[keys.scale("intermediate_examples")].mean() if keys.scale(
                    "intermediate_examples") in sub.columns else np.nan
                rows.append({"task": task, "fraction": fraction, "examples": examples,
                             "gain": t_interval(per_seed.to_numpy())})
            analysis.gains = pd.DataFrame(rows)
    if {"data", "pretrain"} <= set(analysis.axes):
        per_axis = []
        for key in ("data", "pretrain"):
            frame = analysis.axes[key].frame.dropna(subset=["zeroshot"])
            per_axis.append({s: b for s, sub in frame.groupby(SEED)
                             if (b := seed_slope(sub["x"], sub["zeroshot"], sub["series"])) is not None})
        analysis.difference = paired_difference(*per_axis)


def _task_effects(analysis: Analysis) -> dict[tuple[str, str], Estimate]:
    """The paper's main table: each intermediate task (at its largest fraction, where it learned) minus
    no intermediate task, per target task and for the mean over them; paired by seed and by the other
    axes (size, checkpoint)."""
    points = analysis.points
    if not len(points) or TASK not in points.columns:
        return {}
    baseline_mask = points.apply(is_baseline, axis=1)
    if not baseline_mask.any() or baseline_mask.all():
        return {}
    others = [k for k in (SIZE, CHECKPOINT) if k in points.columns]
    base = points[baseline_mask].groupby(others + [SEED]).mean(numeric_only=True)
    out = {}
    trained = points[~baseline_mask & (points["int_learned"].fillna(1.0) == 1.0)]
    for task, sub in trained.groupby(trained[TASK].astype(str)):
        if FRACTION in sub.columns:
            sub = sub[sub[FRACTION] == sub[FRACTION].max()]
        mine = sub.groupby(others + [SEED]).mean(numeric_only=True)
        for column in ["zeroshot"] + [f"zeroshot/{t}" for t in analysis.tasks]:
            if column not in mine.columns or column not in base.columns:
                continue
            diff = (mine[column] - base[column]).dropna()
            if len(diff):
                out[(task, column)] = t_interval(diff.groupby(level=SEED).mean().to_numpy())
    return out


def _extrapolate(analysis: Analysis) -> tuple[Extrapolation | None, str]:
    """Fit zero-shot score against log10 non-embedding parameters on all but the largest size, per seed;
    the miss at the largest size (observed minus predicted) with its t interval over seeds."""
    data = analysis.axes.get("size")
    if data is None:
        return None, "model size does not vary"
    frame = data.frame.dropna(subset=["zeroshot"])
    xs = sorted(frame["x"].unique())
    decades = float(np.log10(xs[-1] / xs[0])) if len(xs) > 1 else 0.0
    if round(decades, 2) < EXTRAPOLATION_DECADES or len(xs) < 3:
        return None, (f"the size ladder spans {decades:.2f} decades of non-embedding parameters over {len(xs)} "
                      f"sizes ({EXTRAPOLATION_DECADES} decades and 3 sizes needed)")
    largest = frame[frame["x"] == xs[-1]]
    predicted, observed = {}, {}
    for s, sub in frame.groupby(SEED):
        fit_rows = sub[sub["x"] < xs[-1]]
        target = sub[sub["x"] == xs[-1]]
        if fit_rows["x"].nunique() < 2 or target.empty:
            continue
        # One intercept per line: predict each line's largest point from its own intercept.
        b = seed_slope(fit_rows["x"], fit_rows["zeroshot"], fit_rows["series"])
        if b is None:
            continue
        preds = []
        for series, line in target.groupby("series"):
            own = fit_rows[fit_rows["series"] == series]
            if own.empty:
                continue
            a = float((own["zeroshot"] - b * np.log10(own["x"])).mean())
            preds.append((a + b * np.log10(xs[-1]), float(line["zeroshot"].mean())))
        if preds:
            predicted[s] = float(np.mean([p for p, _ in preds]))
            observed[s] = float(np.mean([o for _, o in preds]))
    if len(predicted) < 2:
        return None, "fewer than two seeds have the whole ladder"
    name = str(largest[SIZE].iloc[0]) if SIZE in largest.columns else f"{xs[-1]:g}"
    return Extrapolation(name, t_interval(list(predicted.values())), t_interval(list(observed.values())),
                         paired_difference(observed, predicted), decades), ""


def power_law_of(data: AxisData, column: str = "zeroshot") -> PowerLaw | None:
    """The saturating power law through the main-effect curve (mean over seeds of the mean over the other
    axes): descriptive only."""
    frame = data.frame.dropna(subset=[column])
    main = frame.groupby(["x", SEED])[column].mean().groupby(level="x").mean()
    return fit_power_law(main.index.to_numpy(float), main.to_numpy(float))


__all__ = ["Analysis", "Effect", "Extrapolation", "Quantity", "analyse", "declared_primary", "quantity",
           "power_law_of", "AXIS_BY_KEY", "LEVEL"]
