"""The markdown report of a sweep's scaling analysis, with its CSVs and plots.

It answers two questions. Q1: how does model size change the retention of cross-lingual alignment
through intermediate and target fine-tuning? Q2: does scaling the intermediate-task data keep
improving zero-shot transfer and its robustness, and how does that compare with scaling pretraining?
Every answer is a sentence with its numbers and CI; a CI that includes zero reads "inconclusive".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xscale import keys
from xscale.analysis import plots
from xscale.analysis.fits import Estimate, Fit
from xscale.analysis.scaling import (
    GAP,
    MAIN_EFFECT,
    N_BOOT,
    POOLED,
    RETENTION_STAGES,
    SPREAD,
    STAGES,
    TOP_SLOPE,
    WORST,
    ZEROSHOT,
    Analysis,
    AxisData,
    Quantity,
    analyse,
    retention_quantities,
)
from xscale.analysis.table import (
    AXIS_BY_KEY,
    NO_INTERMEDIATE,
    SELECTION_METRIC,
    config_keys,
    fmt_value,
    marginal,
    value_order,
)

FEW_SEEDS = 5
PER = {
    "scale/non_embedding_params": "non-embedding parameters",
    "scale/params": "parameters",
    "scale/intermediate_examples": "intermediate-task examples",
    "intermediate.fraction": "intermediate-task data fraction",
    "scale/pretrain_tokens": "pretraining tokens",
    "pretrain.checkpoint_fraction": "pretraining fraction",
}
PROBE_LABELS = {"retrieval": "retrieval accuracy@1, mean-centred (points)", "cka": "linear CKA (0-1)"}
FIT_COLUMNS = [
    "quantity", "x", "model", "line", "parameter", "estimate", "ci_low", "ci_high", "x_values", "seeds", "note"
]
Q2_SENTENCES = (
    # key, quantity, fit model, subject, wording when the slope is positive / negative
    ("data", ZEROSHOT, "log-linear", "Zero-shot score",
     "more intermediate data improves zero-shot transfer", "more intermediate data hurts zero-shot transfer"),
    ("top", ZEROSHOT, TOP_SLOPE, "Between the two largest amounts of intermediate data, the zero-shot score",
     "still improving at the top of the range", "declining at the top of the range"),
    ("worst", WORST, "log-linear", "Robustness: the worst-language score",
     "the worst language improves", "the worst language gets worse"),
    ("spread", SPREAD, "log-linear", "Robustness: the across-language std",
     "languages drift apart (less robust)", "languages move closer together (more robust)"),
)
SUMMARY_Q2 = ("data", "top", "worst", "pretrain", "difference")
"""The question-2 sentences the summary repeats (the full list is in the Question 2 section)."""


# ---- wording -------------------------------------------------------------------------------------


def fmt_ci(e: Estimate, digits: int = 2) -> str:
    return f"95% CI [{e.low:+.{digits}f}, {e.high:+.{digits}f}]" if e.has_ci else "no CI"


def verdict(e: Estimate, up: str, down: str) -> str:
    """`up`/`down` when the CI excludes zero, otherwise inconclusive."""
    if not e.has_ci:
        return "inconclusive (no confidence interval)"
    if e.includes_zero:
        return "inconclusive (the CI includes zero)"
    return up if e.value > 0 else down


def slope_sentence(fit: Fit | None, subject: str, quantity: Quantity, per: str, up: str, down: str) -> str:
    """'<subject> changes by +b <unit> per 10x <per> (95% CI [l, u]; ...): <verdict>.' or why there is no fit."""
    if fit is None:
        return f"{subject}: not fitted."
    if not fit.ok:
        return f"{subject}: no fit ({fit.note})."
    e = fit.params["slope"]
    unit = "" if quantity.unit.startswith("(") else f" {quantity.unit}"
    # Without a CI the fit's note already says why ("no CI: 1 seed(s), 2 needed").
    details = [fmt_ci(e, quantity.digits)] if e.has_ci else []
    details += [f"{fit.n_x} x values", f"{fit.n_seeds} seed{'s' if fit.n_seeds != 1 else ''}"]
    details += [fit.note] if fit.note else []
    return (
        f"{subject} changes by {e.value:+.{quantity.digits}f}{unit} per 10× {per} "
        f"({'; '.join(details)}): {verdict(e, up, down)}."
    )


def _per(analysis: Analysis, axis: str) -> str:
    return PER.get(analysis.axes[axis].x_column, analysis.axes[axis].x_column)


def q1_sentences(analysis: Analysis) -> list[str]:
    if "size" not in analysis.axes:
        return ["Model size does not vary among the finished trials, so question 1 cannot be answered."]
    quantities = retention_quantities(analysis.probes, analysis.axes["size"].frame.columns)
    if not quantities:
        return ["No retention metrics (`align/retention*/{probe}/avg`) were logged: question 1 cannot be answered."]
    more, less = "larger models retain more alignment", "larger models retain less alignment"
    per = _per(analysis, "size")
    return [
        slope_sentence(analysis.find(q.column, "size"), q.label[0].upper() + q.label[1:], q, per, more, less)
        for q in quantities
    ]


def q2_sentences(analysis: Analysis) -> list[tuple[str, str]]:
    """(key, sentence) pairs; the summary repeats those in SUMMARY_Q2."""
    if "data" not in analysis.axes:
        return [("data", "Intermediate-task data does not vary among the finished trials: question 2 is unanswered.")]
    per = _per(analysis, "data")
    out = [
        (key, slope_sentence(analysis.find(q.column, "data", model), subject, q, per, up, down))
        for key, q, model, subject, up, down in Q2_SENTENCES
    ]
    baseline = _baseline_sentence(analysis)
    if baseline:
        out.append(("baseline", baseline))
    if "pretrain" not in analysis.axes:
        text = "Pretraining does not vary in this sweep, so scaling data cannot be compared with scaling pretraining."
        return [*out, ("difference", text)]
    pretrain = slope_sentence(
        analysis.find("zeroshot", "pretrain"), "For comparison, the zero-shot score", ZEROSHOT,
        _per(analysis, "pretrain"), "more pretraining improves zero-shot transfer", "more pretraining hurts it",
    )
    out.append(("pretrain", pretrain))
    estimate, note = analysis.difference or (None, "not computed")
    if estimate is None:
        out.append(("difference", f"Difference of the two slopes (data minus pretraining): not computed ({note})."))
        return out
    judged = verdict(
        estimate,
        "scaling intermediate data gains more per decade than scaling pretraining",
        "scaling pretraining gains more per decade than scaling intermediate data",
    )
    extra = f"; {note}" if note else ""
    out.append((
        "difference",
        f"Slope per 10× intermediate data minus slope per 10× pretraining: {estimate.value:+.2f} points "
        f"({fmt_ci(estimate)}, paired bootstrap over seeds{extra}): {judged}.",
    ))
    return out


def _seed_mean(frame: pd.DataFrame, column: str) -> str:
    per_seed = frame.groupby("seed")[column].mean()
    return mean_std(per_seed.mean(), per_seed.std())


def _baseline_sentence(analysis: Analysis) -> str:
    """The no-intermediate baseline beside the most intermediate data: does the intermediate stage help at all?"""
    points = analysis.points
    if "intermediate.task" not in points.columns:
        return ""
    baseline = points[points["intermediate.task"].astype(str) == NO_INTERMEDIATE].dropna(subset=[ZEROSHOT.column])
    if baseline.empty:
        return ""
    data = analysis.axes["data"].frame
    top = data[data["x"] == data["x"].max()]
    return (
        f"Without intermediate training (task `{NO_INTERMEDIATE}`) the zero-shot score is "
        f"{_seed_mean(baseline, ZEROSHOT.column)} points; with the most intermediate data "
        f"({plots.human(top['x'].iloc[0])} {_per(analysis, 'data')}) it is {_seed_mean(top, ZEROSHOT.column)} "
        "(mean ± std over seeds of the mean over the other axes)."
    )


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


def _main_effects(data: AxisData, columns: list[str]) -> dict[str, pd.DataFrame]:
    return {c: marginal(data.frame.dropna(subset=[c]), "x", c).set_index("x") for c in columns}


def q1_table(analysis: Analysis) -> str:
    data = analysis.axes["size"]
    columns = []
    for probe, metric in analysis.probes.items():
        columns += [(keys.align(s, probe, keys.AVG, metric), f"{probe} after {s}", 2) for s in STAGES]
        columns += [(keys.retention(probe, st), f"{probe} retention ({st})", 3) for st in RETENTION_STAGES]
    columns = [c for c in columns if c[0] in data.frame.columns]
    names = data.frame.groupby("x")["model.size"].first()
    stats = _main_effects(data, [c for c, _, _ in columns])
    rows = []
    for x, name in names.items():
        row = [name, plots.human(x)]
        for column, _, digits in columns:
            s = stats[column]
            row.append(mean_std(s.at[x, "mean"], s.at[x, "std"], digits) if x in s.index else "–")
        rows.append(row)
    return md_table(["model.size", data.x_label, *[label for _, label, _ in columns]], rows)


def robustness_table(analysis: Analysis) -> str:
    rows = []
    for key, data in analysis.axes.items():
        param = AXIS_BY_KEY[key].param
        stats = _main_effects(data, [ZEROSHOT.column, WORST.column, SPREAD.column])
        for x, value in data.frame.groupby("x")[param].first().items():
            cells = [s.loc[x] if x in s.index else None for s in stats.values()]
            row = [param, fmt_value(value), plots.human(x)]
            row += [mean_std(s["mean"], s["std"]) if s is not None else "–" for s in cells]
            zeroshot = cells[0]
            seed_std, n_seeds = (zeroshot["std"], int(zeroshot["n_seeds"])) if zeroshot is not None else (np.nan, 0)
            rows.append([*row, f"{seed_std:.2f}" if np.isfinite(seed_std) else "–", n_seeds])
    header = ["axis", "value", "x", "zero-shot", "worst language", "across-language std", "across-seed std", "seeds"]
    return md_table(header, rows)


def fits_rows(analysis: Analysis) -> list[dict]:
    """Rows of fits.csv: every fit, one row per parameter (one row with the note when there is no fit)."""
    rows = []
    for entry in analysis.fits:
        base = {
            "quantity": entry.quantity.label, "x": _per(analysis, entry.axis), "model": entry.fit.model,
            "line": entry.series, "x_values": entry.fit.n_x, "seeds": entry.fit.n_seeds, "note": entry.fit.note,
        }
        if not entry.fit.ok:
            rows.append({**base, "parameter": "", "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan})
        for name, e in entry.fit.params.items():
            rows.append({**base, "parameter": name, "estimate": e.value, "ci_low": e.low, "ci_high": e.high})
    return rows


def fits_table(rows: list[dict]) -> str:
    """The report's fits table: pooled and main-effect fits (per-line power laws stay in fits.csv)."""

    def num(v) -> str:
        return "–" if v is None or not np.isfinite(v) else f"{v:+.3g}"

    body = []
    for r in rows:
        if r["line"] not in (POOLED, MAIN_EFFECT, "all"):
            continue
        ci = f"[{num(r['ci_low'])}, {num(r['ci_high'])}]" if num(r["ci_low"]) != "–" else "–"
        body.append([r["quantity"], r["x"], r["model"], r["line"], r["parameter"] or "–", num(r["estimate"]), ci,
                     r["x_values"], r["seeds"], r["note"]])
    header = ["quantity", "x (log10)", "model", "line", "parameter", "estimate", "95% CI", "x values", "seeds", "note"]
    return md_table(header, body)


def excluded_section(analysis: Analysis) -> str:
    runs = analysis.runs
    bad = runs[runs["status"] != "FINISHED"]
    rows = [[r.trial_id, r.cell, r.status, r.failure_reason or "–"] for r in bad.itertuples()]
    rows += [[r.trial_id, r.cell, r.status, f"no `{SELECTION_METRIC}` logged"] for r in analysis.unranked.itertuples()]
    missing = sorted(set(runs["cell"]) - set(analysis.selected["cell"]))
    parts = [
        "Trials that are not FINISHED, or have no selection metric, are left out of every curve and fit.",
        "",
        md_table(["trial id", "cell", "status", "reason"], rows),
        "",
        "**Cells with no usable trial** (missing from the curves): "
        + (", ".join(f"`{c}`" for c in missing) or "none") + ".",
    ]
    if len(analysis.points):
        seeds = set(analysis.points["seed"])
        have = analysis.points.groupby("config")["seed"].agg(set)
        short = [
            f"{config} (missing seed {', '.join(fmt_value(s) for s in sorted(seeds - got))})"
            for config, got in have.items()
            if seeds - got
        ]
        parts += ["", "**Configurations with missing seeds:** " + ("; ".join(short) or "none") + "."]
    return "\n".join(parts)


def runs_section(analysis: Analysis) -> str:
    runs = analysis.runs
    lines = [md_table(["status", "trials"], [[s, int(n)] for s, n in runs["status"].value_counts().items()]), ""]
    not_chosen = int(((runs["status"] == "FINISHED") & ~runs["selected"]).sum()) - len(analysis.unranked)
    lines.append(
        f"{len(runs)} trials in {runs['cell'].nunique()} cells; {len(analysis.selected)} cells have a selected trial "
        f"(best `{SELECTION_METRIC}` of the cell, English dev); {not_chosen} finished trials lost that selection to a "
        "better trial of their cell. `runs.csv` lists every trial with a `selected` column."
    )
    points = analysis.points
    if len(points):
        seeds = ", ".join(fmt_value(s) for s in sorted(points["seed"].unique()))
        lines.append(f"\nSeeds: {seeds}; configurations (grid cells without the seed): {points['config'].nunique()}.")
        for key in config_keys(points):
            lines.append(f"- `{key}`: {', '.join(fmt_value(v) for v in value_order(points, key))}")
        merged = int((points["n_cells"] > 1).sum())
        if merged:
            lines.append(
                f"\nNote: {merged} (configuration, seed) pairs hold several cells that differ in an axis this "
                "analysis does not model; their scores were averaged."
            )
    return "\n".join(lines)


# ---- output --------------------------------------------------------------------------------------


def draw_plots(analysis: Analysis, out_dir: Path) -> list[tuple[Path, str]]:
    """Every plot whose axis varies; returns (file, caption) pairs."""
    made = []
    for key, data in analysis.axes.items():
        title = AXIS_BY_KEY[key].title
        path = plots.score_vs_axis(data.frame, analysis.tasks, data.x_label, title, out_dir / f"zeroshot_vs_{key}.png")
        made.append((path, f"Zero-shot score against {title}"))
        path = plots.series_vs_axis(
            data.frame, GAP.column, "transfer gap: English minus mean of others (points)", data.x_label,
            f"Transfer gap vs {title}", out_dir / f"gap_vs_{key}.png",
        )
        made.append((path, f"Transfer gap against {title}"))
        stats = marginal(data.frame.dropna(subset=[ZEROSHOT.column]), "x", ZEROSHOT.column)
        path = plots.fit_curves(
            stats, _main_fit(analysis, key, "log-linear"), _main_fit(analysis, key, "power law"), data.x_label,
            f"Zero-shot score vs {title}: main effect and fits", out_dir / f"fit_{key}.png",
        )
        made.append((path, f"Fitted scaling laws of the zero-shot score against {title}"))
    if "size" in analysis.axes and analysis.probes:
        made += _alignment_plots(analysis, analysis.axes["size"], out_dir)
    grid = analysis.points
    if len(grid) and {"intermediate.fraction", "pretrain.checkpoint_fraction"} <= set(grid.columns):
        if "intermediate.task" in grid.columns:
            grid = grid[grid["intermediate.task"].astype(str) != NO_INTERMEDIATE]
        if grid["intermediate.fraction"].nunique() > 1 and grid["pretrain.checkpoint_fraction"].nunique() > 1:
            path = plots.heatmap(grid, out_dir / "heatmap_fraction_x_checkpoint.png")
            made.append((path, "Mean zero-shot score over intermediate.fraction × pretrain.checkpoint_fraction"))
    return made


def _main_fit(analysis: Analysis, axis: str, model: str) -> Fit | None:
    """The fit of the main-effect curve; with a single line that is the line itself (series `all`, or pooled)."""
    for series in (MAIN_EFFECT, "all", POOLED):
        fit = analysis.find(ZEROSHOT.column, axis, model, series)
        if fit is not None:
            return fit
    return None


def _alignment_plots(analysis: Analysis, data: AxisData, out_dir: Path) -> list[tuple[Path, str]]:
    lines, panels = [], []
    for probe, metric in analysis.probes.items():
        start = len(lines)
        lines += [(keys.align(s, probe, keys.AVG, metric), f"after {s}") for s in STAGES]
        panels.append((probe, PROBE_LABELS.get(probe, f"{probe} {metric}"), list(range(start, len(lines)))))
    title = "Cross-lingual alignment after each stage vs model size (mean over the other axes)"
    made = [(
        plots.marginal_lines(data.frame, lines, panels, data.x_label, title, out_dir / "alignment_vs_size.png"),
        "Alignment after pretraining, intermediate and target training against model size",
    )]
    lines = [(keys.retention(p, st), f"{p}, after {st}") for p in analysis.probes for st in RETENTION_STAGES]
    lines = [line for line in lines if line[0] in data.frame.columns]
    if lines:
        panel = [("retention", "alignment after stage / after pretraining (ratio)", list(range(len(lines))))]
        title = "Alignment retention vs model size (mean over the other axes)"
        path = plots.marginal_lines(
            data.frame, lines, panel, data.x_label, title, out_dir / "retention_vs_size.png", ref_line=1.0
        )
        made.append((path, "Retention ratio against model size"))
    return made


def _header(parent: dict, analysis: Analysis) -> list[str]:
    tasks = ", ".join(f"{t} ({m})" for t, m in analysis.tasks.items()) or "none logged"
    parents = ", ".join(f"`{r}`" for r in parent.get("run_ids", []))
    return [
        f"# xscale report: {parent.get('sweep') or parent.get('spec_name') or 'sweep'}",
        "",
        f"- Sweep folder: `{parent.get('sweep_dir', '')}`; spec: `{parent.get('spec_name', '')}`; "
        f"experiment: `{parent.get('experiment_name', '')}`; parent run(s): {parents}.",
        "- Zero-shot score: `target/{task}/avg/{metric}` (mean over the non-English languages), averaged over "
        f"target tasks: {tasks}.",
        f"- Model selection: in each grid cell the FINISHED trial with the best `{SELECTION_METRIC}` (English dev) "
        "is used; zero-shot languages never take part in selection. Curves then average over seeds.",
        f"- Uncertainty: 95% expanded-percentile bootstrap over seeds ({analysis.n_boot} resamples of the seed ids, "
        "every fit redone); a result whose CI includes zero is inconclusive. Slopes are per decade (10×) of x."
        + _few_seeds_warning(analysis),
        "",
    ]


def _few_seeds_warning(analysis: Analysis) -> str:
    n = analysis.points["seed"].nunique() if len(analysis.points) else 0
    if not 1 < n < FEW_SEEDS:
        return ""
    # A bootstrap over n units never reaches past the most extreme per-seed result.
    return (
        f" With {n} seeds the CIs are optimistic: a seed bootstrap cannot reach beyond the spread of the per-seed "
        "results (with 3 seeds it covers the truth about 3 times in 4)."
    )


def _summary_q1(analysis: Analysis, sentences: list[str]) -> str:
    if "size" in analysis.axes:
        quantities = retention_quantities(analysis.probes, analysis.axes["size"].frame.columns)
        fits = [analysis.find(q.column, "size") for q in quantities]
        if fits and not any(f is not None and f.ok for f in fits):
            return f"Not answerable from this sweep: model size against retention, {fits[0].note}."
    return " ".join(sentences)


def _summary_q2(analysis: Analysis, sentences: list[tuple[str, str]]) -> str:
    fit = analysis.find(ZEROSHOT.column, "data") if "data" in analysis.axes else None
    if fit is not None and not fit.ok:
        return f"Not answerable from this sweep: intermediate data against zero-shot score, {fit.note}."
    return " ".join(text for key, text in sentences if key in SUMMARY_Q2)


def render(analysis: Analysis, parent: dict, plot_files: list[tuple[Path, str]], fit_rows: list[dict]) -> str:
    """The whole report.md text."""
    q1, q2 = q1_sentences(analysis), q2_sentences(analysis)
    lines = _header(parent, analysis)
    lines += ["## Summary", ""]
    if analysis.selected.empty:
        lines += ["**No trial finished with a `dev/score`: nothing to analyse** (Excluded trials says why).", ""]
    lines += [
        f"**Question 1 (model size and alignment retention).** {_summary_q1(analysis, q1)}",
        "",
        f"**Question 2 (intermediate data vs pretraining).** {_summary_q2(analysis, q2)}",
        "",
        "## Runs",
        "",
        runs_section(analysis),
        "",
        "## Question 1",
        "",
        "How does model size change the retention of cross-lingual alignment through intermediate and target "
        "fine-tuning? (Slopes pooled over the other axes: one intercept per combination of them, one shared slope.)",
        "",
        *[f"- {s}" for s in q1],
    ]
    if "size" in analysis.axes and analysis.probes:
        lines += ["", "By model size (mean ± std over seeds of the mean over the other axes):", "", q1_table(analysis)]
    lines += [
        "",
        "## Question 2",
        "",
        "Does scaling the intermediate-task data keep improving zero-shot transfer and its robustness, and how does "
        "that compare with scaling pretraining? (Pooled slopes as in question 1.)",
        "",
        *[f"- {s}" for _, s in q2],
        "",
        "## Robustness",
        "",
        "Per value of each varying axis, mean ± std over seeds of the mean over the other axes. Worst language: the "
        "lowest non-English score of each task, averaged over tasks; across-language std: std over the non-English "
        "languages; across-seed std: std over seeds of the zero-shot score.",
        "",
        robustness_table(analysis),
        "",
        "## Fits table",
        "",
        "Log-linear: score = a + b·log10 x (b: change per decade). Power law: score = a − b·(x/x_min)^−alpha "
        "(a: asymptote) on the mean over the other axes, needs 4 distinct x values (per-line fits: `fits.csv`). "
        "Every fit needs 3 distinct x values, and a CI 2 seeds.",
        "",
        fits_table(fit_rows),
        "",
        "## Plots",
        "",
    ]
    if not plot_files:
        lines += ["No scaling axis varies among the finished trials: no plots.", ""]
    lines += [f"### {caption}\n\n![{caption}]({path.name})\n" for path, caption in plot_files]
    lines += ["## Excluded trials", "", excluded_section(analysis), ""]
    return "\n".join(lines)


def write_report(runs: pd.DataFrame, parent: dict, out_dir: str | Path, n_boot: int = N_BOOT) -> list[Path]:
    """Write report.md, runs.csv, fits.csv and the PNG plots into out_dir; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyse(runs, n_boot=n_boot)
    analysis.runs.to_csv(out_dir / "runs.csv", index=False)
    fit_rows = fits_rows(analysis)
    pd.DataFrame(fit_rows, columns=FIT_COLUMNS).to_csv(out_dir / "fits.csv", index=False)
    plot_files = draw_plots(analysis, out_dir)
    (out_dir / "report.md").write_text(render(analysis, parent, plot_files, fit_rows))
    return [out_dir / "report.md", out_dir / "runs.csv", out_dir / "fits.csv", *(p for p, _ in plot_files)]
