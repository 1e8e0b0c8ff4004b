"""The scaling analysis of one sweep: selection, fits, plots and the markdown report that answers
the two research questions.

Q1: how does model size change the retention of cross-lingual alignment through intermediate and
target fine-tuning? Q2: does scaling the intermediate-task data keep improving zero-shot transfer and
its robustness, and how does that compare with scaling pretraining?
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xscale.analysis import plots
from xscale.analysis.fits import Estimate, Fit, fit_log_linear, fit_power_law, slope_difference
from xscale.analysis.table import (
    AXES,
    AXIS_BY_KEY,
    NO_INTERMEDIATE,
    SELECTION_METRIC,
    add_scores,
    axis_points,
    config_keys,
    fmt_value,
    marginal,
    primary_metrics,
    seed_points,
    select_best,
)

N_BOOT = 1000
STAGES = ("pretrain", "intermediate", "target")
RETENTION_KINDS = (("retention", "intermediate"), ("retention_target", "target"))
PROBE_METRICS = {"retrieval": "accuracy", "cka": "cka"}
PROBE_LABELS = {"retrieval": "retrieval accuracy@1, mean-centred (points)", "cka": "linear CKA (0-1)"}
PER = {
    "scale/non_embedding_params": "non-embedding parameters",
    "scale/params": "parameters",
    "scale/intermediate_examples": "intermediate-task examples",
    "intermediate.fraction": "intermediate-task data fraction",
    "scale/pretrain_tokens": "pretraining tokens",
    "pretrain.checkpoint_fraction": "pretraining fraction",
}
POOLED = "pooled (one intercept per line)"
SUMMARY_Q2 = ("data", "top", "worst", "pretrain", "difference")
_ALIGN = re.compile(r"^align/(pretrain|intermediate|target)/([^/]+)/avg/([^/]+)$")


@dataclass(frozen=True)
class Quantity:
    column: str
    label: str
    unit: str
    digits: int = 2


@dataclass(frozen=True)
class AxisData:
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
    """Everything the report says, computed once."""

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
        for entry in self.fits:
            if (entry.quantity.column, entry.axis, entry.fit.model, entry.series) == (column, axis, model, series):
                return entry.fit
        return None


def score_quantities(tasks: dict[str, str]) -> list[Quantity]:
    per_task = [Quantity(f"zeroshot/{t}", f"zero-shot {t} {m}", "points") for t, m in tasks.items()] if len(tasks) > 1 else []
    return [
        Quantity("zeroshot", "zero-shot score", "points"),
        *per_task,
        Quantity("worst_lang", "worst-language score", "points"),
        Quantity("lang_spread", "across-language std", "points"),
        Quantity("gap", "transfer gap (English minus mean of others)", "points"),
    ]


def retention_quantities(probes: dict[str, str], columns) -> list[Quantity]:
    out = []
    for probe in probes:
        for kind, stage in RETENTION_KINDS:
            column = f"align/{kind}/{probe}/avg"
            if column in columns:
                out.append(Quantity(column, f"retention of {probe} alignment after {stage} training", "(ratio)", 3))
    return out


def find_probes(frame: pd.DataFrame) -> dict[str, str]:
    """Alignment probes and the metric reported for each, from `align/{after}/{probe}/avg/{metric}`."""
    found: dict[str, set[str]] = {}
    for column in frame.columns:
        if (match := _ALIGN.match(str(column))) and frame[column].notna().any():
            found.setdefault(match.group(2), set()).add(match.group(3))
    return {p: PROBE_METRICS[p] if PROBE_METRICS.get(p) in ms else sorted(ms)[0] for p, ms in sorted(found.items())}


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
            if quantity.column not in data.frame.columns:
                continue
            frame = data.frame.dropna(subset=[quantity.column])
            result.fits.append(FitEntry(quantity, key, POOLED, _pooled(frame, quantity.column, n_boot, rng)))
        zeroshot = quantities[0]
        for series, frame in data.frame.dropna(subset=["zeroshot"]).groupby("series"):
            fit = fit_power_law(frame["x"], frame["zeroshot"], frame["seed"], n_boot, rng)
            result.fits.append(FitEntry(zeroshot, key, str(series), fit))
    if "data" in axes:
        result.fits.append(FitEntry(score_quantities(tasks)[0], "data", POOLED, _top_slope(axes["data"].frame, n_boot, rng)))
    if "data" in axes and "pretrain" in axes:
        result.difference = slope_difference(_arrays(axes["data"].frame), _arrays(axes["pretrain"].frame), n_boot, rng)
    return result


def _arrays(frame: pd.DataFrame, column: str = "zeroshot") -> tuple:
    frame = frame.dropna(subset=[column])
    return frame["x"], frame[column], frame["seed"], frame["series"]


def _pooled(frame: pd.DataFrame, column: str, n_boot: int, rng) -> Fit:
    return fit_log_linear(*_arrays(frame, column), n_boot=n_boot, rng=rng)


def _top_slope(frame: pd.DataFrame, n_boot: int, rng) -> Fit:
    """Slope between the two largest amounts of data: does the curve still rise at the end of the range?"""
    xs = sorted(frame["x"].unique())
    if len(xs) < 3:
        return Fit("log-linear (two largest x)", note=f"too few points: {len(xs)} distinct x values, 3 needed")
    top = frame[frame["x"] >= xs[-2]]
    fit = fit_log_linear(*_arrays(top), n_boot=n_boot, rng=rng, min_x=2)
    return Fit("log-linear (two largest x)", fit.params, fit.n_points, fit.n_x, fit.n_seeds, fit.note)


# ---- wording -------------------------------------------------------------------------------------


def fmt_ci(e: Estimate, digits: int = 2) -> str:
    return f"95% CI [{e.low:+.{digits}f}, {e.high:+.{digits}f}]" if e.has_ci else "no CI"


def verdict(e: Estimate, up: str, down: str) -> str:
    if not e.has_ci:
        return "inconclusive (no confidence interval)"
    if e.includes_zero:
        return "inconclusive (the CI includes zero)"
    return up if e.value > 0 else down


def slope_sentence(fit: Fit | None, subject: str, quantity: Quantity, per: str, up: str, down: str) -> str:
    if fit is None:
        return f"{subject}: not fitted."
    if not fit.ok:
        return f"{subject}: no fit ({fit.note})."
    e = fit.params["slope"]
    unit = "" if quantity.unit.startswith("(") else f" {quantity.unit}"
    note = f"; {fit.note}" if fit.note else ""
    return (
        f"{subject} changes by {e.value:+.{quantity.digits}f}{unit} per 10× {per} "
        f"({fmt_ci(e, quantity.digits)}; {fit.n_x} x values, {fit.n_seeds} seeds{note}): {verdict(e, up, down)}."
    )


def _per(analysis: Analysis, axis: str) -> str:
    return PER.get(analysis.axes[axis].x_column, analysis.axes[axis].x_column)


def q1_sentences(analysis: Analysis) -> list[str]:
    if "size" not in analysis.axes:
        return ["Model size does not vary in this sweep (or has no finished trials), so question 1 cannot be answered."]
    quantities = retention_quantities(analysis.probes, analysis.axes["size"].frame.columns)
    if not quantities:
        return ["No alignment-retention metrics (`align/retention*/{probe}/avg`) were logged, so question 1 cannot be answered."]
    per = _per(analysis, "size")
    return [
        slope_sentence(
            analysis.find(q.column, "size"), q.label[0].upper() + q.label[1:], q, per,
            "larger models retain more alignment", "larger models retain less alignment",
        )
        for q in quantities
    ]


def q2_sentences(analysis: Analysis) -> list[tuple[str, str]]:
    """(key, sentence) pairs; the summary picks the headline ones by key."""
    zeroshot = score_quantities(analysis.tasks)[0]
    if "data" not in analysis.axes:
        return [("data", "The amount of intermediate-task data does not vary in this sweep, so question 2 cannot be answered.")]
    per = _per(analysis, "data")
    out = [
        ("data", slope_sentence(
            analysis.find("zeroshot", "data"), "Zero-shot score", zeroshot, per,
            "more intermediate data improves zero-shot transfer", "more intermediate data hurts zero-shot transfer",
        )),
        ("top", slope_sentence(
            analysis.find("zeroshot", "data", "log-linear (two largest x)"),
            "Between the two largest amounts of intermediate data, the zero-shot score", zeroshot, per,
            "still improving at the top of the range", "declining at the top of the range",
        )),
        ("worst", slope_sentence(
            analysis.find("worst_lang", "data"), "Robustness: the worst-language score",
            Quantity("worst_lang", "worst-language score", "points"), per,
            "the worst language improves", "the worst language gets worse",
        )),
        ("spread", slope_sentence(
            analysis.find("lang_spread", "data"), "Robustness: the across-language std",
            Quantity("lang_spread", "across-language std", "points"), per,
            "languages drift apart (less robust)", "languages move closer together (more robust)",
        )),
    ]
    if "pretrain" not in analysis.axes:
        out.append(("difference", "Pretraining does not vary in this sweep, so scaling intermediate data cannot be compared "
                    "with scaling pretraining."))
        return out
    out.append(("pretrain", slope_sentence(
        analysis.find("zeroshot", "pretrain"), "For comparison, the zero-shot score", zeroshot, _per(analysis, "pretrain"),
        "more pretraining improves zero-shot transfer", "more pretraining hurts zero-shot transfer",
    )))
    estimate, note = analysis.difference or (None, "not computed")
    if estimate is None:
        out.append(("difference", f"Difference of the two slopes (data minus pretraining): not computed ({note})."))
    else:
        extra = f"; {note}" if note else ""
        out.append(("difference", (
            f"Slope per 10× intermediate data minus slope per 10× pretraining: {estimate.value:+.2f} points "
            f"({fmt_ci(estimate)}, paired bootstrap over seeds{extra}): "
            + verdict(estimate, "scaling intermediate data gains more per decade than scaling pretraining",
                      "scaling pretraining gains more per decade than scaling intermediate data")
            + "."
        )))
    return out


# ---- tables --------------------------------------------------------------------------------------


def md_table(header: list[str], rows: list[list]) -> str:
    if not rows:
        return "_(none)_"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if np.isfinite(std) else f"{mean:.{digits}f}"


def _axis_values(data: AxisData, param: str) -> dict:
    return data.frame.groupby("x")[param].first().to_dict()


def q1_table(analysis: Analysis) -> str:
    data = analysis.axes["size"]
    columns = []
    for probe, metric in analysis.probes.items():
        columns += [(f"align/{s}/{probe}/avg/{metric}", f"{probe} after {s}", 2) for s in STAGES]
        columns += [(f"align/{k}/{probe}/avg", f"{probe} retention ({st})", 3) for k, st in RETENTION_KINDS]
    columns = [c for c in columns if c[0] in data.frame.columns]
    names = _axis_values(data, "model.size")
    stats = {c: marginal(data.frame.dropna(subset=[c]), "x", c).set_index("x") for c, _, _ in columns}
    rows = []
    for x in sorted(names):
        row = [names[x], plots.human(x)]
        for column, _, digits in columns:
            s = stats[column]
            row.append(mean_std(s.at[x, "mean"], s.at[x, "std"], digits) if x in s.index else "–")
        rows.append(row)
    return md_table(["model.size", data.x_label, *[label for _, label, _ in columns]], rows)


def robustness_table(analysis: Analysis) -> str:
    rows = []
    for key, data in analysis.axes.items():
        names = _axis_values(data, AXIS_BY_KEY[key].param)
        stats = {c: marginal(data.frame.dropna(subset=[c]), "x", c).set_index("x") for c in ("zeroshot", "worst_lang", "lang_spread")}
        for x in sorted(names):
            cells = [stats[c].loc[x] if x in stats[c].index else None for c in stats]
            row = [AXIS_BY_KEY[key].param, fmt_value(names[x]), plots.human(x)]
            row += [mean_std(s["mean"], s["std"]) if s is not None else "–" for s in cells]
            zs = cells[0]
            row += [f"{zs['std']:.2f}" if zs is not None and np.isfinite(zs["std"]) else "–", int(zs["n_seeds"]) if zs is not None else 0]
            rows.append(row)
    return md_table(
        ["axis", "value", "x", "zero-shot", "worst language", "across-language std", "across-seed std", "seeds"], rows
    )


def fits_rows(analysis: Analysis) -> list[dict]:
    rows = []
    for entry in analysis.fits:
        base = {
            "quantity": entry.quantity.label,
            "x": PER.get(analysis.axes[entry.axis].x_column, entry.axis),
            "model": entry.fit.model,
            "line": entry.series,
            "x_values": entry.fit.n_x,
            "seeds": entry.fit.n_seeds,
            "note": entry.fit.note,
        }
        if not entry.fit.ok:
            rows.append({**base, "parameter": "", "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan})
        for name, e in entry.fit.params.items():
            rows.append({**base, "parameter": name, "estimate": e.value, "ci_low": e.low, "ci_high": e.high})
    return rows


def fits_table(rows: list[dict]) -> str:
    def num(v):
        return "–" if v is None or not np.isfinite(v) else f"{v:+.3g}"

    body = [
        [r["quantity"], r["x"], r["model"], r["line"], r["parameter"] or "–", num(r["estimate"]),
         f"[{num(r['ci_low'])}, {num(r['ci_high'])}]" if r["ci_low"] is not None and np.isfinite(r["ci_low"]) else "–",
         r["x_values"], r["seeds"], r["note"]]
        for r in rows
    ]
    return md_table(["quantity", "x (log10, per decade)", "model", "line", "parameter", "estimate", "95% CI", "x values", "seeds", "note"], body)


def excluded_section(analysis: Analysis) -> str:
    runs = analysis.runs
    bad = runs[runs["status"] != "FINISHED"]
    rows = [[r.trial_id, r.cell, r.status, r.failure_reason or "–"] for r in bad.itertuples()]
    rows += [[r.trial_id, r.cell, r.status, f"no `{SELECTION_METRIC}` logged"] for r in analysis.unranked.itertuples()]
    parts = [
        "Trials that are not FINISHED, or cannot be ranked by the selection metric, are left out of every curve and fit.",
        "",
        md_table(["trial id", "cell", "status", "reason"], rows),
    ]
    covered = set(analysis.selected["cell"])
    missing = sorted(set(runs["cell"]) - covered)
    parts += ["", "**Cells with no usable trial** (missing from the curves): " + (", ".join(f"`{c}`" for c in missing) or "none") + "."]
    if len(analysis.points):
        seeds = set(analysis.points["seed"])
        have = analysis.points.groupby("config")["seed"].agg(set)
        short = [f"{config} (missing seed {', '.join(fmt_value(s) for s in sorted(seeds - got))})" for config, got in have.items() if seeds - got]
        parts += ["", "**Configurations with missing seeds:** " + ("; ".join(short) or "none") + "."]
    return "\n".join(parts)


def runs_section(analysis: Analysis) -> str:
    runs = analysis.runs
    counts = runs["status"].value_counts()
    lines = [md_table(["status", "trials"], [[s, int(n)] for s, n in counts.items()]), ""]
    n_cells = runs["cell"].nunique()
    not_chosen = int(((runs["status"] == "FINISHED") & ~runs["selected"]).sum()) - len(analysis.unranked)
    lines.append(
        f"{len(runs)} trials in {n_cells} cells; {len(analysis.selected)} cells have a selected trial "
        f"(best `{SELECTION_METRIC}` of the cell, English dev); {not_chosen} finished trials lost that selection to a "
        "better trial of their cell. `runs.csv` lists every trial with a `selected` column."
    )
    points = analysis.points
    if len(points):
        lines.append(f"Seeds: {', '.join(fmt_value(s) for s in sorted(points['seed'].unique()))}; configurations: {points['config'].nunique()}.")
        for key in config_keys(points):
            lines.append(f"- `{key}`: {', '.join(fmt_value(v) for v in pd.unique(points[key].dropna()))}")
        merged = points[points["n_cells"] > 1]
        if len(merged):
            lines.append(
                f"\nNote: {len(merged)} (configuration, seed) pairs hold several cells that differ in an axis this analysis "
                "does not model; their scores were averaged."
            )
    return "\n".join(lines)


# ---- output --------------------------------------------------------------------------------------


def draw_plots(analysis: Analysis, out_dir: Path) -> list[tuple[Path, str]]:
    """Every plot whose axis varies; returns (file, caption) pairs."""
    made = []
    for key, data in analysis.axes.items():
        title = AXIS_BY_KEY[key].title
        made.append((plots.score_vs_axis(data.frame, analysis.tasks, data.x_label, title, out_dir / f"zeroshot_vs_{key}.png"),
                     f"Zero-shot score against {title}"))
        made.append((plots.series_vs_axis(data.frame, "gap", "transfer gap: English minus mean of others (points)", data.x_label,
                                          f"Transfer gap vs {title}", out_dir / f"gap_vs_{key}.png", zero_line=True),
                     f"Transfer gap against {title}"))
    if "size" in analysis.axes and analysis.probes:
        data = analysis.axes["size"]
        lines, panels = [], []
        for probe, metric in analysis.probes.items():
            start = len(lines)
            lines += [(f"align/{s}/{probe}/avg/{metric}", f"after {s}") for s in STAGES]
            panels.append((probe, PROBE_LABELS.get(probe, f"{probe} {metric}"), list(range(start, len(lines)))))
        made.append((plots.marginal_lines(data.frame, lines, panels, data.x_label,
                                          "Cross-lingual alignment after each stage vs model size (mean over other axes)",
                                          out_dir / "alignment_vs_size.png"),
                     "Alignment after pretraining, intermediate and target training against model size"))
        lines = [(f"align/{k}/{p}/avg", f"{p}, after {st}") for p in analysis.probes for k, st in RETENTION_KINDS]
        lines = [line for line in lines if line[0] in data.frame.columns]
        if lines:
            made.append((plots.marginal_lines(data.frame, lines, [("retention", "alignment after stage / after pretraining (ratio)", list(range(len(lines))))],
                                              data.x_label, "Alignment retention vs model size (mean over other axes)",
                                              out_dir / "retention_vs_size.png", ref_line=1.0),
                         "Retention ratio against model size"))
    points = analysis.points
    if len(points) and all(c in points.columns for c in ("intermediate.fraction", "pretrain.checkpoint_fraction")):
        grid = points
        if "intermediate.task" in grid.columns:
            grid = grid[grid["intermediate.task"].astype(str) != NO_INTERMEDIATE]
        if grid["intermediate.fraction"].nunique() > 1 and grid["pretrain.checkpoint_fraction"].nunique() > 1:
            made.append((plots.heatmap(grid, out_dir / "heatmap_fraction_x_checkpoint.png"),
                         "Mean zero-shot score over intermediate.fraction × pretrain.checkpoint_fraction"))
    return made


def _header(parent: dict, analysis: Analysis) -> list[str]:
    tasks = ", ".join(f"{t} ({m})" for t, m in analysis.tasks.items()) or "none logged"
    return [
        f"# xscale report: {parent.get('sweep') or parent.get('spec_name') or 'sweep'}",
        "",
        f"- Sweep folder: `{parent.get('sweep_dir', '')}`; spec: `{parent.get('spec_name', '')}`; "
        f"experiment: `{parent.get('experiment_name', '')}`; parent run(s): {', '.join(f'`{r}`' for r in parent.get('run_ids', []))}",
        f"- Zero-shot score: `target/{{task}}/avg/{{metric}}` (mean over the non-English languages), averaged over target tasks: {tasks}.",
        f"- Model selection: within each grid cell the FINISHED trial with the best `{SELECTION_METRIC}` (English dev) is used; "
        "zero-shot languages never take part in selection. Curves then average over seeds.",
        f"- Uncertainty: 95% percentile bootstrap over seeds ({analysis.n_boot} resamples of the seed ids, every fit redone); "
        "a result whose CI includes zero is called inconclusive. Slopes are per decade (10×) of the x quantity.",
        "",
    ]


def render(analysis: Analysis, parent: dict, plot_files: list[tuple[Path, str]], fit_rows: list[dict]) -> str:
    q1, q2 = q1_sentences(analysis), q2_sentences(analysis)
    lines = _header(parent, analysis)
    lines += ["## Summary", "", f"**Question 1 (model size and alignment retention).** {' '.join(q1)}", "",
              f"**Question 2 (intermediate data vs pretraining).** {' '.join(t for k, t in q2 if k in SUMMARY_Q2)}", ""]
    lines += ["## Runs", "", runs_section(analysis), ""]
    lines += ["## Question 1", "", "How does model size change the retention of cross-lingual alignment through intermediate and "
              "target fine-tuning?", ""]
    lines += [f"- {s}" for s in q1]
    if "size" in analysis.axes and analysis.probes:
        lines += ["", "Alignment and retention by model size (mean ± std over seeds of the mean over the other axes):", "", q1_table(analysis)]
    lines += ["", "## Question 2", "", "Does scaling the intermediate-task data keep improving zero-shot transfer and its robustness, "
              "and how does that compare with scaling pretraining? (Pooled fits: one intercept per combination of the other axes, "
              "one shared slope.)", ""]
    lines += [f"- {s}" for _, s in q2]
    lines += ["", "## Robustness", "", "Per value of each varying axis, mean ± std over seeds of the mean over the other axes. "
              "Worst language: the lowest non-English score of each task, averaged over tasks; across-language std: std over "
              "the non-English languages; across-seed std: std over seeds of the zero-shot score.", "", robustness_table(analysis), ""]
    lines += ["## Fits table", "", "Log-linear: score = a + b·log10 x (b = slope per decade). Power law: score = a − b·(x/x_min)^−alpha "
              "(a = asymptote), fitted per line, needs at least 4 distinct x values; every fit needs at least 3 and a CI needs 2 seeds.",
              "", fits_table(fit_rows), ""]
    lines += ["## Plots", ""]
    lines += [f"### {caption}\n\n![{caption}]({path.name})\n" for path, caption in plot_files] or ["No scaling axis varies in the finished trials: no plots.", ""]
    lines += ["## Excluded trials", "", excluded_section(analysis), ""]
    return "\n".join(lines)


def write_report(runs: pd.DataFrame, parent: dict, out_dir: str | Path, n_boot: int = N_BOOT) -> list[Path]:
    """Write report.md, runs.csv, fits.csv and the PNG plots into out_dir; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyse(runs, n_boot=n_boot)
    analysis.runs.to_csv(out_dir / "runs.csv", index=False)
    fit_rows = fits_rows(analysis)
    pd.DataFrame(fit_rows, columns=["quantity", "x", "model", "line", "parameter", "estimate", "ci_low", "ci_high",
                                    "x_values", "seeds", "note"]).to_csv(out_dir / "fits.csv", index=False)
    plot_files = draw_plots(analysis, out_dir)
    (out_dir / "report.md").write_text(render(analysis, parent, plot_files, fit_rows))
    return [out_dir / "report.md", out_dir / "runs.csv", out_dir / "fits.csv", *(p for p, _ in plot_files)]
