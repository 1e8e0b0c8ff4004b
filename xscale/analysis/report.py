"""The markdown report of a sweep: the answer first (primary endpoints, anchors, the learning gate, the
extrapolation check), then the tables and plots behind it.

Wording follows the interval: a direction is stated only when the 95% interval (Holm-corrected for
secondary effects) excludes zero; otherwise the report says there is no evidence of an effect, gives the
interval and the smallest effect the study could have detected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xscale.analysis import plots
from xscale.analysis.anchors import FAILS, HOLDS
from xscale.analysis.fits import Estimate
from xscale.analysis.scaling import ALIGNED_MARGIN, Analysis, Effect, aligned, analyse
from xscale.analysis.table import SELECTION_METRIC, config_keys, fmt_value, value_order
from xscale.tasks.registry import TASKS, learning_threshold

QUESTIONS = {
    "Q1": "How does model size change how much cross-lingual alignment survives intermediate and target fine-tuning?",
    "Q2": "Does more English intermediate-task data keep improving zero-shot transfer, and how does that compare "
          "with more pretraining?",
}
EFFECT_COLUMNS = ["question", "role", "quantity", "x (per 10x)", "estimate", "low", "high", "level", "p", "seeds",
                  "detectable", "note"]


# ---- wording -------------------------------------------------------------------------------------


def num(v: float | None, digits: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:+.{digits}f}"


def interval(e: Estimate, digits: int = 2, signed: bool = True) -> str:
    """`95% CI [low, high]`; `signed` for differences and slopes, plain for levels."""
    if not e.has_interval:
        return "no interval"
    fmt = num if signed else (lambda v, d: f"{v:.{d}f}")
    level = f"{100 * e.level:.{1 if round(100 * e.level, 1) % 1 else 0}f}%"
    return f"{level} CI [{fmt(e.low, digits)}, {fmt(e.high, digits)}]"


def _unit(effect: Effect) -> str:
    return "" if effect.quantity.unit.startswith("(") else f" {effect.quantity.unit}"


def effect_sentence(effect: Effect) -> str:
    """One sentence whose claim follows the interval."""
    q, e, d = effect.quantity, effect.reported, effect.quantity.digits
    if e is None:
        return f"{q.label[0].upper()}{q.label[1:]} against {effect.per}: no fit ({effect.note})."
    seeds = f"{e.n_seeds} seed{'s' if e.n_seeds != 1 else ''}"
    if not e.has_interval:
        return (f"{q.label[0].upper()}{q.label[1:]}: {num(e.value, d)}{_unit(effect)} per 10× {effect.per} from "
                f"{seeds}: no interval, so no claim.")
    body = f"{num(e.value, d)}{_unit(effect)} per 10× {effect.per} ({interval(e, d)}, {seeds})"
    if e.excludes_zero:
        return f"{q.label[0].upper()}{q.label[1:]} changes by {body}: {q.up if e.value > 0 else q.down}."
    detect = f"; the smallest effect these seeds would detect is ±{abs(e.detectable):.{d}f}" if e.detectable else ""
    return f"No evidence of an effect on the {q.label}: {body}{detect}."


def md_table(header: list[str], rows: list[list]) -> str:
    if not rows:
        return "_(none)_"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---- the top of the report -----------------------------------------------------------------------


def summary_lines(analysis: Analysis, parent: dict) -> list[str]:
    """The answer in at most 15 lines: failing anchors, each question's primary endpoint, the anchors,
    what did not learn, the extrapolation check, and what the numbers rest on."""
    lines = []
    for a in analysis.anchors:
        if a.status == FAILS:
            lines.append(f"- **ANCHOR FAILED: {a.name}** ({num(a.estimate.value)} {interval(a.estimate)}): the "
                         "benchmark or the recipe is off; read the answers below with that in mind.")
    for question in QUESTIONS:
        effect = analysis.primary_effect(question)
        declared = analysis.primary.get(question)
        if effect is not None:
            lines.append(f"- **{question} (primary)**: {effect_sentence(effect)}")
        elif declared:
            lines.append(f"- **{question} (primary: `{declared[0]}` vs `{declared[1]}`)**: not answered: "
                         f"{analysis.primary_notes.get(question, 'no data')}.")
    if analysis.anchors:
        lines.append("- **Anchors**: " + "; ".join(
            f"{a.name}: {a.status} ({num(a.estimate.value)}, {interval(a.estimate)})" if a.estimate is not None
            else f"{a.name}: {a.status} ({a.detail})" for a in analysis.anchors) + ".")
    failed = {**{f"{t} (target)": v for t, v in analysis.gated.failed.items()},
              **{f"{t} (intermediate)": v for t, v in analysis.gated.intermediate_failed.items()}}
    if failed:
        lines.append("- **Did not learn** (kept out of fits and aggregates): " + "; ".join(
            f"{name} in {n} of {total} trials ({dev} in those)" for name, (n, total, dev) in failed.items()) + ".")
    else:
        lines.append("- **Learning gate**: every gated task learned in English in every selected trial.")
    lines.append(f"- **Extrapolation**: {extrapolation_sentence(analysis)}")
    seeds = analysis.seeds
    commit = (parent.get("tags") or {}).get("xscale.git_commit", "unknown")
    lines.append(f"- {len(analysis.selected)} selected trials of {len(analysis.runs)}; seeds "
                 f"{', '.join(fmt_value(s) for s in seeds) or 'none'}; target tasks in the answers: "
                 f"{', '.join(analysis.tasks) or 'none'}; code {commit[:12]}.")
    return lines


def extrapolation_sentence(analysis: Analysis) -> str:
    x = analysis.extrapolation
    if x is None:
        return f"not run ({analysis.extrapolation_note})."
    within = x.miss.has_interval and x.miss.low <= 0 <= x.miss.high
    return (f"fitted without `{x.largest}` ({x.decades:.2f} decades of non-embedding parameters), the log-linear "
            f"law predicts it at {x.predicted.value:.2f} ({interval(x.predicted, signed=False)}); it scored "
            f"{x.observed.value:.2f}. "
            f"Miss {num(x.miss.value)} points ({interval(x.miss)}): "
            + ("the law extrapolates within its uncertainty." if within else "the law does NOT extrapolate."))


# ---- sections ------------------------------------------------------------------------------------


def question_section(analysis: Analysis, question: str, axes: tuple[str, ...]) -> list[str]:
    lines = [f"## {question}", "", QUESTIONS[question], ""]
    effects = [e for e in analysis.effects if e.axis in axes]
    if not effects:
        varying = ", ".join(f"`{a}`" for a in axes)
        return lines + [f"Not addressed by this sweep: {varying} does not vary among the usable trials.", ""]
    for e in sorted(effects, key=lambda e: e.role != "primary"):
        tag = "**primary**" if e.role == "primary" else "secondary (Holm)"
        lines.append(f"- {tag}: {effect_sentence(e)}")
    lines.append("")
    return lines


def gains_section(analysis: Analysis) -> list[str]:
    gains = analysis.gains
    lines = []
    if gains is not None and len(gains):
        rows = [[g.task, fmt_value(g.fraction), plots.human(g.examples) if np.isfinite(g.examples) else "–",
                 num(g.gain.value), interval(g.gain), g.gain.n_seeds] for g in gains.itertuples()]
        lines += ["Gain of intermediate training over the baseline without it (zero-shot points, paired by seed "
                  "and by the other axes):", "",
                  md_table(["intermediate task", "fraction", "examples", "gain", "interval", "seeds"], rows), ""]
    if analysis.difference is not None and np.isfinite(analysis.difference.value):
        d = analysis.difference
        verdict = ("scaling intermediate data gains more per decade than scaling pretraining" if d.excludes_zero
                   and d.value > 0 else "scaling pretraining gains more per decade than scaling intermediate data"
                   if d.excludes_zero else "no evidence that one gains more per decade than the other")
        lines += [f"Data slope minus pretraining slope (per decade of each, paired by seed): {num(d.value)} points "
                  f"({interval(d)}, {d.n_seeds} seed{'s' if d.n_seeds != 1 else ''}): {verdict}.", ""]
    return lines


def task_table_section(analysis: Analysis) -> list[str]:
    """Rows: intermediate tasks; columns: the mean over target tasks and each target task; cells: the
    zero-shot difference to no intermediate task with its interval (Phang et al.'s main table)."""
    if not analysis.task_effects:
        return []
    columns = ["zeroshot"] + [f"zeroshot/{t}" for t in analysis.tasks]
    columns = [c for c in columns if any(c == col for _, col in analysis.task_effects)]
    rows = []
    for task in sorted({t for t, _ in analysis.task_effects}):
        row = [task]
        for column in columns:
            e = analysis.task_effects.get((task, column))
            row.append(f"{num(e.value)} [{num(e.low)}, {num(e.high)}]" if e is not None and e.has_interval else
                       (num(e.value) if e is not None else "–"))
        rows.append(row)
    header = ["intermediate task"] + ["mean over tasks" if c == "zeroshot" else c.split("/", 1)[1] for c in columns]
    return ["## Intermediate tasks against none", "",
            "Zero-shot score with each intermediate task minus without one (points; 95% t interval over seeds, "
            "paired by seed, size and checkpoint; the task at its largest fraction, trials where it learned).", "",
            md_table(header, rows), ""]


def anchors_section(analysis: Analysis) -> list[str]:
    rows = [[a.name, a.status, num(a.estimate.value) if a.estimate else "–",
             interval(a.estimate) if a.estimate else "–", a.detail] for a in analysis.anchors]
    return ["## Anchors", "",
            "Directions the literature agrees on; `>` anchors hold when the interval lies above zero, no-harm "
            "(`>=`) anchors unless it lies below.", "",
            md_table(["anchor", "status", "estimate", "interval", "unit"], rows), ""]


def gate_section(analysis: Analysis) -> list[str]:
    frame = analysis.gated.frame
    rows = []
    for column in sorted(c for c in frame.columns if c.startswith("gate/")):
        task = column.split("/", 1)[1]
        g = frame[column]
        info = TASKS.get(task)
        threshold = learning_threshold(info) if info else None
        if g.notna().any():
            rows.append([task, "target", f"{int((g == 1).sum())} of {int(g.notna().sum())}",
                         f"{threshold:.1f}" if threshold is not None else "–"])
        else:
            rows.append([task, "target", "not gated (no training)", "–"])
    if "int_learned" in frame.columns:
        for name, sub in frame.groupby(frame.get("intermediate.task", pd.Series("", index=frame.index)).astype(str)):
            g = sub["int_learned"]
            if g.notna().any():
                info = TASKS.get(name)
                threshold = learning_threshold(info) if info else None
                rows.append([name, "intermediate", f"{int((g == 1).sum())} of {int(g.notna().sum())}",
                             f"{threshold:.1f}" if threshold is not None else "–"])
    points = analysis.points
    for probe in analysis.probes:
        excess = f"excess/pretrain/{probe}/avg"
        if excess in points.columns and not probe.endswith("_mid"):
            ok = aligned(points, probe)
            per_size = ""
            if "model.size" in points.columns and points["model.size"].nunique() > 1:
                size = points["model.size"]
                per_size = " (" + ", ".join(f"{v} {int(ok[size == v].sum())} of {int((size == v).sum())}"
                                            for v in value_order(points, "model.size")) + ")"
            rows.append([f"{probe} alignment", "pretrain", f"{int(ok.sum())} of {len(ok)}{per_size}",
                         f"random init + {ALIGNED_MARGIN[probe]:g}"])
    return ["## Learning gate", "",
            "A task counts as learned in a trial when its English dev score reaches the threshold (classification "
            "and multiple choice: chance + 25 points; tagging and QA: 40). A target task enters the aggregates only "
            "if it learned in every selected trial; an intermediate task that did not learn keeps its trial out of "
            "every fit (on the data axis: unless the same group learned it at its largest fraction). The alignment "
            "rows are the alignment gate: an encoder whose pretrained alignment does not beat a random-init encoder "
            "of its size by the margin has nothing to retain, so it is kept out of the retention fits.", "",
            md_table(["task", "stage", "learned in", "threshold"], rows), ""]


def _or_nan(x: float | None) -> float:
    """A table cell: a missing estimate or bound (no effect, or one seed and so no interval) is NaN."""
    return np.nan if x is None else float(x)


def effect_rows(analysis: Analysis) -> list[dict]:
    rows = []
    for e in analysis.effects:
        r = e.reported
        rows.append({
            "question": e.question, "role": e.role, "quantity": e.quantity.column, "x (per 10x)": e.per,
            "estimate": _or_nan(r and r.value), "low": _or_nan(r and r.low), "high": _or_nan(r and r.high),
            "level": r.level if r and r.has_interval else np.nan, "p": _or_nan(r and r.p_value),
            "seeds": r.n_seeds if r else 0, "detectable": _or_nan(r and r.detectable), "note": e.note,
        })
    return rows


def effects_table(rows: list[dict]) -> str:
    body = [[r["role"], r["quantity"], r["x (per 10x)"], num(r["estimate"], 3),
             f"[{num(r['low'], 3)}, {num(r['high'], 3)}]" if np.isfinite(r["low"]) else "–",
             f"{100 * r['level']:.1f}%" if np.isfinite(r["level"]) else "–",
             f"{r['p']:.3g}" if np.isfinite(r["p"]) else "–", r["seeds"], r["note"]]
            for r in rows]
    return md_table(["role", "quantity", "per 10x of", "slope", "interval", "level", "p", "seeds", "note"], body)


def runs_section(analysis: Analysis) -> list[str]:
    runs = analysis.runs
    lines = ["## Runs", "", md_table(["status", "trials"], [[s, int(n)] for s, n in runs["status"].value_counts().items()]),
             ""]
    lines.append(f"{len(runs)} trials in {runs['cell'].nunique()} cells; {len(analysis.selected)} cells have a selected "
                 f"trial (best `{SELECTION_METRIC}` of the cell, English dev only). `runs.csv` lists every trial with "
                 "its raw numbers and a `selected` column.")
    points = analysis.points
    if len(points):
        for key in config_keys(points):
            lines.append(f"- `{key}`: {', '.join(fmt_value(v) for v in value_order(points, key))}")
    precisions = runs.loc[runs["precision"] != "", "precision"].value_counts()
    if len(precisions) > 1:
        lines += ["", "**Trials ran at different precisions** ("
                  + ", ".join(f"{p}: {int(n)}" for p, n in precisions.items())
                  + "): their numbers differ by rounding as well as by their axes. Pin `resources.precision` "
                  "to compare like with like."]
    elif len(precisions) == 1:
        lines.append(f"- forward passes in {precisions.index[0]} (`resources.precision`)")
    if analysis.dropped:
        lines += ["", f"{len(analysis.dropped)} run(s) of trials that were logged twice were left out (a trial's latest "
                  f"FINISHED run is kept): {', '.join(analysis.dropped)}."]
    bad = runs[runs["status"] != "FINISHED"]
    if len(bad):
        lines += ["", "Trials that did not finish are left out of every curve and fit:", "",
                  md_table(["trial id", "cell", "status", "reason"],
                           [[r.trial_id, r.cell, r.status, r.failure_reason or "–"] for r in bad.itertuples()])]
    return lines + [""]


# ---- output --------------------------------------------------------------------------------------


def render(analysis: Analysis, parent: dict, plot_files: list[tuple[Path, str]], rows: list[dict]) -> str:
    """The whole report.md text (paths relative to the report folder)."""
    name = parent.get("sweep") or parent.get("spec_name") or "sweep"
    lines = [f"# xscale report: {name}", ""]
    if analysis.selected.empty:
        lines += ["**No trial finished with a `dev/score`: nothing to analyse** (see Runs).", ""]
    lines += summary_lines(analysis, parent) + [""]
    lines += [
        "Every interval is a Student t interval over per-seed estimates (each seed is one replicate of the whole "
        "grid), at 95% for primary endpoints and Holm-corrected over the secondary ones. Slopes are per decade "
        "(10×) of the scale quantity, pooled over the other axes with one intercept per combination of them.",
        "",
    ]
    lines += question_section(analysis, "Q1", ("size",))
    lines += question_section(analysis, "Q2", ("data", "pretrain"))
    lines += gains_section(analysis)
    lines += task_table_section(analysis)
    lines += anchors_section(analysis)
    lines += gate_section(analysis)
    lines += ["## Every effect", "", effects_table(rows), ""]
    lines += ["## Plots", ""]
    if not plot_files:
        lines += ["No scaling axis varies among the usable trials: no plots.", ""]
    lines += [f"### {caption}\n\n![{caption}]({path.name})\n" for path, caption in plot_files]
    lines += runs_section(analysis)
    return "\n".join(lines)


def write_report(runs: pd.DataFrame, parent: dict, out_dir: str | Path,
                 primary: dict[str, tuple[str, str]] | None = None) -> list[Path]:
    """Write report.md, runs.csv, effects.csv and the PNG plots into out_dir; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyse(runs, primary)
    analysis.runs.to_csv(out_dir / "runs.csv", index=False)
    rows = effect_rows(analysis)
    pd.DataFrame(rows, columns=EFFECT_COLUMNS).to_csv(out_dir / "effects.csv", index=False)
    plot_files = plots.draw_all(analysis, out_dir)
    (out_dir / "report.md").write_text(render(analysis, parent, plot_files, rows))
    return [out_dir / "report.md", out_dir / "runs.csv", out_dir / "effects.csv", *(p for p, _ in plot_files)]


__all__ = ["write_report", "render", "effect_sentence", "summary_lines", "HOLDS"]
