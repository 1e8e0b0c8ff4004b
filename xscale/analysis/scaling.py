"""Every fit the report quotes, computed once from the trial rows of a sweep.

For each scaling axis that varies: a pooled log-linear fit (one intercept per combination of the other
axes, one shared slope) of every score, a saturating power law on the axis's main-effect curve, and
for the data axis the slope between its two largest values; the retention ratios against model size
(question 1); and the paired difference of the data and pretraining slopes (question 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xscale import keys
from xscale.analysis.fits import ALPHA_BOUNDS, Estimate, Fit, fit_log_linear, fit_power_law, slope_difference
from xscale.analysis.table import AXES, add_scores, axis_points, primary_metrics, seed_points, select_best

N_BOOT = 1000
STAGES = ("pretrain", "intermediate", "target")
RETENTION_STAGES = ("intermediate", "target")
"""The stages whose alignment retention (`keys.retention`) the report fits against model size."""
PROBE_METRICS = {"retrieval": "accuracy", "cka": "cka"}
"""Reported metric of each known probe, in the order the report lists them."""
POOLED = "pooled (one intercept per line)"
MAIN_EFFECT = "mean over the other axes"
TOP_SLOPE = "log-linear (two largest x)"


@dataclass(frozen=True)
class Quantity:
    """A per-run column the report fits, with its wording and unit."""

    column: str
    label: str
    unit: str = "points"
    digits: int = 2


ZEROSHOT = Quantity("zeroshot", "zero-shot score")
WORST = Quantity("worst_lang", "worst-language score")
SPREAD = Quantity("lang_spread", "across-language std")
GAP = Quantity("gap", "transfer gap (English minus mean of others)")


@dataclass(frozen=True)
class AxisData:
    """The per-(configuration, seed) points of one varying axis, with their x quantity."""

    frame: pd.DataFrame
    x_column: str
    x_label: str


@dataclass(frozen=True)
class FitEntry:
    quantity: Quantity
    axis: str
    series: str
    fit: Fit


@dataclass
class Analysis:
    """Selected trials, their per-seed points, the varying axes and every fit."""

    runs: pd.DataFrame
    selected: pd.DataFrame
    unranked: pd.DataFrame
    points: pd.DataFrame
    tasks: dict[str, str]
    probes: dict[str, str]
    axes: dict[str, AxisData]
    n_boot: int
    fits: list[FitEntry] = field(default_factory=list)
    difference: tuple[Estimate | None, str] | None = None

    def find(self, column: str, axis: str, model: str = "log-linear", series: str = POOLED) -> Fit | None:
        """The fit of a quantity against an axis, or None when it was not attempted."""
        for entry in self.fits:
            if (entry.quantity.column, entry.axis, entry.fit.model, entry.series) == (column, axis, model, series):
                return entry.fit
        return None


def score_quantities(tasks: dict[str, str]) -> list[Quantity]:
    """Zero-shot score first, then per task (when there are several), worst language, spread, gap."""
    per_task = [Quantity(f"zeroshot/{t}", f"zero-shot {t} {m}") for t, m in tasks.items()] if len(tasks) > 1 else []
    return [ZEROSHOT, *per_task, WORST, SPREAD, GAP]


def retention_quantities(probes: dict[str, str], columns) -> list[Quantity]:
    out = []
    for probe in probes:
        for stage in RETENTION_STAGES:
            column = keys.retention(probe, stage)
            if column in columns:
                out.append(Quantity(column, f"retention of {probe} alignment after {stage} training", "(ratio)", 3))
    return out


def find_probes(frame: pd.DataFrame) -> dict[str, str]:
    """Alignment probes and the metric reported for each, from `align/{after}/{probe}/avg/{metric}`."""
    found: dict[str, set[str]] = {}
    for column in frame.columns:
        parsed = keys.parse_align(str(column))
        if parsed and parsed.stage in STAGES and parsed.lang == keys.AVG and frame[column].notna().any():
            found.setdefault(parsed.task, set()).add(parsed.metric)
    known = list(PROBE_METRICS)
    order = sorted(found, key=lambda p: (known.index(p) if p in known else len(known), p))
    return {p: PROBE_METRICS[p] if PROBE_METRICS.get(p) in found[p] else sorted(found[p])[0] for p in order}


def analyse(runs: pd.DataFrame, n_boot: int = N_BOOT, rng_seed: int = 0) -> Analysis:
    """Select the best trial per cell, derive scores and fit every scaling axis that varies."""
    selected, unranked = select_best(runs)
    runs = runs.assign(selected=runs["run_id"].isin(selected["run_id"]))
    tasks = primary_metrics(selected)
    points = seed_points(add_scores(selected, tasks)) if len(selected) else pd.DataFrame()
    probes = find_probes(points)
    axes = {}
    for axis in AXES:
        found = axis_points(points, axis) if len(points) else None
        if found:
            axes[axis.key] = AxisData(*found)
    result = Analysis(runs, selected, unranked, points, tasks, probes, axes, n_boot)
    rng = np.random.default_rng(rng_seed)
    for key, data in axes.items():
        quantities = score_quantities(tasks)
        if key == "size":
            quantities += retention_quantities(probes, data.frame.columns)
        for quantity in quantities:
            if quantity.column in data.frame.columns:
                fit = fit_log_linear(*_arrays(data.frame, quantity.column), n_boot=n_boot, rng=rng)
                result.fits.append(FitEntry(quantity, key, POOLED, fit))
        result.fits += _main_effect_fits(data.frame, key, ZEROSHOT, n_boot, rng)
    if "data" in axes:
        result.fits.append(FitEntry(ZEROSHOT, "data", POOLED, _top_slope(axes["data"].frame, n_boot, rng)))
    if "data" in axes and "pretrain" in axes:
        result.difference = slope_difference(
            _arrays(axes["data"].frame), _arrays(axes["pretrain"].frame), n_boot=n_boot, rng=rng
        )
    return result


def _arrays(frame: pd.DataFrame, column: str = "zeroshot") -> tuple:
    frame = frame.dropna(subset=[column])
    return frame["x"], frame[column], frame["seed"], frame["series"]


def _main_effect_fits(frame: pd.DataFrame, axis: str, quantity: Quantity, n_boot: int, rng) -> list[FitEntry]:
    """Log-linear and power law on the main-effect curve (per seed, the mean over the other axes), then
    the power law per line.

    The report's table shows the main-effect fits and its plot draws them; per-line fits go to
    fits.csv, where many lines do not swamp the answer.
    """
    frame = frame.dropna(subset=[quantity.column])
    per_seed = frame.groupby(["x", "seed"])[quantity.column].mean().reset_index()
    several = frame["series"].nunique() > 1
    arrays = (per_seed["x"], per_seed[quantity.column], per_seed["seed"])
    label = MAIN_EFFECT if several else "all"
    entries = [FitEntry(quantity, axis, label, _flag_bounds(fit_power_law(*arrays, n_boot, rng)))]
    if several:
        entries.insert(0, FitEntry(quantity, axis, label, fit_log_linear(*arrays, n_boot=n_boot, rng=rng)))
        for series, sub in frame.groupby("series"):
            fit = fit_power_law(sub["x"], sub[quantity.column], sub["seed"], n_boot, rng)
            entries.append(FitEntry(quantity, axis, str(series), _flag_bounds(fit)))
    return entries


def _flag_bounds(fit: Fit) -> Fit:
    """Say when alpha sits on a search bound: near 0 the curve is log-linear, no saturation is visible."""
    alpha = fit.params.get("alpha")
    if alpha is None:
        return fit
    if alpha.value <= ALPHA_BOUNDS[0] * 1.01:
        flag = "alpha at its lower bound: no saturation visible, the log-linear fit describes the data"
    elif alpha.value >= ALPHA_BOUNDS[1] * 0.99:
        flag = "alpha at its upper bound: the curve is flat beyond the smallest x"
    else:
        return fit
    note = f"{flag}; {fit.note}" if fit.note else flag
    return Fit(fit.model, fit.params, fit.n_points, fit.n_x, fit.n_seeds, note)


def _top_slope(frame: pd.DataFrame, n_boot: int, rng) -> Fit:
    """Slope between the two largest amounts of data: does the curve still rise at the end of the range?"""
    xs = sorted(frame["x"].unique())
    if len(xs) < 3:
        return Fit(TOP_SLOPE, note=f"too few points to fit: {len(xs)} distinct x values, 3 needed")
    fit = fit_log_linear(*_arrays(frame[frame["x"] >= xs[-2]]), n_boot=n_boot, rng=rng, min_x=2)
    return Fit(TOP_SLOPE, fit.params, fit.n_points, fit.n_x, fit.n_seeds, fit.note)
