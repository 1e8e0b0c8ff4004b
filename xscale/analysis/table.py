"""From raw trial rows to analysis tables: best trial per cell, the learning gate, derived scores,
per-seed points, and the points of each scaling axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xscale import keys
from xscale.keys import CHECKPOINT, FRACTION, NO_INTERMEDIATE, SEED, SIZE, TASK
from xscale.tasks.registry import TASKS, learning_threshold

SELECTION_METRIC = keys.DEV_SCORE
"""English dev only: choosing by a zero-shot language would leak the test languages into selection."""

CONFIG_KEYS = (SIZE, FRACTION, CHECKPOINT, TASK)
"""The grid axes the analysis knows; a configuration is one value of each, over all seeds."""
SHORT_NAMES = {SIZE: "size", FRACTION: "int. fraction", CHECKPOINT: "ckpt fraction", TASK: "int. task"}
PREFERRED_METRICS = ("f1", "accuracy", "exact_match", "score")
"""For a task the registry does not know: the first of these it logs is its score."""


@dataclass(frozen=True)
class Axis:
    """A scaling axis: its grid param and the x quantity to plot and fit it against, best first."""

    key: str
    param: str
    title: str
    x_options: tuple[tuple[str, str], ...]


AXES = (
    Axis("size", SIZE, "model size",
         ((keys.scale("non_embedding_params"), "non-embedding parameters"), (keys.scale("params"), "parameters"))),
    Axis("data", FRACTION, "intermediate-task data",
         ((keys.scale("intermediate_examples"), "intermediate-task training examples"),
          (FRACTION, "fraction of the intermediate-task training data"))),
    Axis("pretrain", CHECKPOINT, "pretraining",
         ((keys.scale("pretrain_tokens"), "pretraining tokens"), (CHECKPOINT, "fraction of pretraining"))),
)
AXIS_BY_KEY = {axis.key: axis for axis in AXES}
AXIS_BY_PARAM = {axis.param: axis for axis in AXES}


# ------------------------------------------------------------------------------------ selection


def select_best(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(best complete FINISHED trial of each cell by dev/score, FINISHED trials that cannot be ranked).

    Trials inside one cell differ only in searched nuisance hyperparameters (e.g. the learning
    rate), so keeping one per cell is model selection; ties go to the lowest trial id.
    """
    finished = runs[runs["status"] == "FINISHED"]
    if "stopped_after" in finished.columns:  # stopped early by the scheduler: not comparable with complete trials
        finished = finished[finished["stopped_after"].fillna("").astype(str) == ""]
    if SELECTION_METRIC not in finished.columns:
        return finished.iloc[:0], finished
    scored = finished[pd.to_numeric(finished[SELECTION_METRIC], errors="coerce").notna()]
    unranked = finished.drop(index=scored.index)
    cell = scored["cell"].where(scored["cell"].astype(str) != "", scored["trial_id"])
    ordered = scored.assign(_cell=cell).sort_values([SELECTION_METRIC, "trial_id"], ascending=[False, True])
    best = ordered.drop_duplicates("_cell").drop(columns="_cell").sort_values(["cell", "trial_id"])
    return best, unranked


def primary_metrics(frame: pd.DataFrame) -> dict[str, str]:
    """The score metric of each target task among its `target/{task}/avg/{metric}` columns: the task
    registry's primary metric, else the first of PREFERRED_METRICS logged. A registered task with a
    learning gate but no zero-shot score (`target.gate_zero_shot` held it back in every trial) is
    included with its registry metric, so the report still lists it as not learned."""
    found: dict[str, list[str]] = {}
    gate_prefix = keys.learned("target", "")
    gated = {str(c)[len(gate_prefix):] for c in frame.columns if str(c).startswith(gate_prefix)}
    for column in frame.columns:
        parsed = keys.parse(str(column), stage="target")
        if parsed and parsed.lang == keys.AVG and frame[column].notna().any():
            found.setdefault(parsed.task, []).append(parsed.metric)
    for task in (gated & set(TASKS)) - set(found):
        found[task] = [TASKS[task].metric]
    chosen = {}
    for task, metrics in sorted(found.items()):
        registered = TASKS[task].metric if task in TASKS else None
        preferred = [m for m in (registered, *PREFERRED_METRICS) if m in metrics]
        chosen[task] = preferred[0] if preferred else sorted(metrics)[0]
    return chosen


def languages(frame: pd.DataFrame, task: str, metric: str) -> list[str]:
    """Zero-shot languages of a task (everything logged but English and the average)."""
    langs = [p.lang for c in frame.columns
             if (p := keys.parse(str(c), stage="target")) and p.task == task and p.metric == metric]
    return sorted(lang for lang in langs if lang not in (keys.AVG, keys.ENGLISH))


# --------------------------------------------------------------------------------- the learning gate


def _gate(frame: pd.DataFrame, stage: str, task: str, dev_column: str) -> pd.Series:
    """1/0 per run from `learned/{stage}/{task}`, else from the English dev score and the registry's
    threshold (runs logged before the gate); NaN where neither says."""
    logged = frame.get(keys.learned(stage, task))
    out = pd.Series(np.nan, index=frame.index) if logged is None else pd.to_numeric(logged, errors="coerce")
    threshold = learning_threshold(TASKS[task]) if task in TASKS else None
    if threshold is not None and dev_column in frame.columns:
        dev = pd.to_numeric(frame[dev_column], errors="coerce")
        out = out.where(out.notna(), (dev >= threshold).astype(float).where(dev.notna()))
    return out


def target_gates(frame: pd.DataFrame, tasks: dict[str, str]) -> pd.DataFrame:
    """One column per target task: 1 learned, 0 not, NaN not gated (retrieval tasks train nothing)."""
    out = {}
    for task, metric in tasks.items():
        info = TASKS.get(task)
        if info is not None and learning_threshold(info) is None:
            out[task] = pd.Series(np.nan, index=frame.index)
            continue
        dev_metric = info.metric if info is not None else metric
        out[task] = _gate(frame, "target", task, keys.dev(task, dev_metric))
    return pd.DataFrame(out, index=frame.index)


def intermediate_gate(frame: pd.DataFrame) -> pd.Series:
    """1/0 per run: whether every intermediate task of the run learned (NaN for the baseline)."""
    out = pd.Series(np.nan, index=frame.index)
    if TASK not in frame.columns:
        return out
    for i, row in frame.iterrows():
        names = str(row[TASK]).split("+")
        if is_baseline(row):
            continue
        gates = [_gate(frame.loc[[i]], "intermediate", n, keys.metric("intermediate", n, keys.ENGLISH,
                 TASKS[n].metric if n in TASKS else "accuracy")).iloc[0] for n in names if n in TASKS]
        gates = [g for g in gates if np.isfinite(g)]
        out[i] = float(all(g == 1.0 for g in gates)) if gates else np.nan
    return out


def is_baseline(row) -> bool:
    """A run without intermediate training: task `none` or fraction 0."""
    task = str(row.get(TASK, NO_INTERMEDIATE))
    fraction = pd.to_numeric(row.get(FRACTION, 1.0), errors="coerce")
    return task == NO_INTERMEDIATE or (np.isfinite(fraction) and fraction == 0)


# ----------------------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class Gated:
    """The selected runs with their gates and derived scores, and what the gate decided."""

    frame: pd.DataFrame
    answer_tasks: dict[str, str]
    """Target tasks in every answer aggregate: learned in every selected trial (or not gated)."""
    failed: dict[str, tuple[int, int, str]]
    """Target tasks that did not learn somewhere: (trials not learned, trials, English dev range of those)."""
    intermediate_failed: dict[str, tuple[int, int, str]]
    """Intermediate tasks that did not learn in some trials (same shape)."""


def _dev_range(frame: pd.DataFrame, column: str, rows) -> str:
    if column not in frame.columns:
        return "no English dev score"
    values = pd.to_numeric(frame.loc[rows, column], errors="coerce").dropna()
    return f"English dev {values.min():.1f}-{values.max():.1f}" if len(values) else "no English dev score"


def gate_and_score(selected: pd.DataFrame, tasks: dict[str, str]) -> Gated:
    """Apply the learning gate and add the derived columns every fit reads.

    A target task enters the aggregates (`zeroshot`, `gap`, `worst_lang`, `lang_spread`, `lang/{lang}`)
    only if it learned in every selected trial, so every run's aggregate averages the same tasks;
    `zeroshot/{task}` is kept for a task's learned trials only. A run whose intermediate task did not
    learn is kept only on the data axis, and only if the same group learned it at its largest fraction
    (`int_ok`): a small fraction that does not learn is a point of the dose-response, not a failure.
    """
    out = selected.copy()
    gates = target_gates(out, tasks)
    failed, answer = {}, {}
    for task, metric in tasks.items():
        g = gates[task]
        not_learned = g == 0.0
        if not_learned.any():
            failed[task] = (int(not_learned.sum()), int(g.notna().sum()),
                            _dev_range(out, keys.dev(task, TASKS[task].metric if task in TASKS else metric),
                                       g.index[not_learned]))
        else:
            answer[task] = metric
        out[f"gate/{task}"] = g  # not `learned/...`: those are the logged per-stage gates
    out["int_learned"] = intermediate_gate(out)
    out["int_ok"] = _intermediate_ok(out).astype(float)
    inter_failed = {}
    if TASK in out.columns:
        for name, rows in out.groupby(out[TASK].astype(str)).groups.items():
            g = out.loc[rows, "int_learned"]
            if (g == 0.0).any():
                metric = TASKS[name].metric if name in TASKS else "accuracy"
                inter_failed[name] = (int((g == 0.0).sum()), int(g.notna().sum()),
                                      _dev_range(out, keys.metric("intermediate", name, keys.ENGLISH, metric),
                                                 g.index[g == 0.0]))
    per_task: dict[str, list[pd.Series]] = {"zeroshot": [], "gap": [], "worst_lang": [], "lang_spread": []}
    per_lang: dict[str, list[pd.Series]] = {}
    for task, metric in tasks.items():
        column = keys.average("target", task, metric)
        avg = pd.to_numeric(out[column], errors="coerce") if column in out.columns else pd.Series(np.nan, index=out.index)
        out[f"zeroshot/{task}"] = avg.where(gates[task] != 0.0)
        if task not in answer:
            continue
        per_task["zeroshot"].append(avg)
        en = keys.metric("target", task, keys.ENGLISH, metric)
        if en in out.columns:
            per_task["gap"].append(pd.to_numeric(out[en], errors="coerce") - avg)
        langs = languages(out, task, metric)
        if langs:
            values = out[[keys.metric("target", task, lang, metric) for lang in langs]].astype(float)
            per_task["worst_lang"].append(values.min(axis=1, skipna=False))
            per_task["lang_spread"].append(values.std(axis=1, ddof=0, skipna=False))
            for lang in langs:
                per_lang.setdefault(lang, []).append(values[keys.metric("target", task, lang, metric)])
    for name, series in per_task.items():
        # A run missing one task's score gets NaN rather than a mean over fewer tasks.
        out[name] = pd.concat(series, axis=1).mean(axis=1, skipna=False) if series else np.nan
    for lang, series in per_lang.items():
        if len(series) == len(answer):  # a language every answer task evaluates
            out[f"lang/{lang}"] = pd.concat(series, axis=1).mean(axis=1, skipna=False)
    return Gated(out, answer, failed, inter_failed)


def _intermediate_ok(frame: pd.DataFrame) -> pd.Series:
    ok = frame["int_learned"].fillna(1.0) == 1.0
    if FRACTION not in frame.columns or frame[FRACTION].nunique() < 2:
        return ok
    # On the data axis: a group (every other axis and the seed) is kept when its largest fraction learned.
    by = [k for k in (SIZE, CHECKPOINT, TASK, SEED) if k in frame.columns]
    top = frame.sort_values(FRACTION).groupby(by, dropna=False)["int_learned"].transform("last")
    return ok | (top.fillna(1.0) == 1.0)


# ------------------------------------------------------------------------------------ points, axes


def config_keys(frame: pd.DataFrame) -> list[str]:
    return [key for key in CONFIG_KEYS if key in frame.columns]


def seed_points(selected: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, seed): numeric columns averaged over the cells that share them
    (more than one means a grid axis the analysis does not model: `n_cells` records it)."""
    frame = selected.copy()
    if SEED not in frame.columns:
        frame[SEED] = 0
    by = config_keys(frame) + [SEED]
    numeric = [c for c in frame.select_dtypes("number").columns if c not in by]
    grouped = frame.groupby(by, dropna=False, sort=True)
    points = grouped[numeric].mean()
    points["n_cells"] = grouped.size()
    points = points.reset_index()
    points["config"] = config_labels(points, config_keys(points))
    return points


def config_labels(frame: pd.DataFrame, names: list[str]) -> pd.Series:
    if not names:
        return pd.Series("all", index=frame.index)
    return frame[names].apply(lambda row: ", ".join(f"{SHORT_NAMES.get(k, k)}={fmt_value(row[k])}" for k in names),
                              axis=1)


def fmt_value(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) >= 1 else f"{value:g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def value_order(frame: pd.DataFrame, key: str) -> list:
    """Values of a config key in natural order; model sizes by parameter count when it is logged."""
    values = list(frame[key].dropna().unique())
    if key == SIZE:
        for column in (keys.scale("non_embedding_params"), keys.scale("params")):
            if column in frame.columns:
                count = frame.groupby(key)[column].mean()
                return sorted(values, key=lambda v: (count.get(v, np.inf), str(v)))
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values, key=str)


def varies(frame: pd.DataFrame, param: str) -> bool:
    return param in frame.columns and frame[param].nunique(dropna=True) >= 2


@dataclass(frozen=True)
class AxisData:
    """The per-(configuration, seed) points of one varying axis, with their x quantity."""

    frame: pd.DataFrame
    x_column: str
    x_label: str


def axis_points(points: pd.DataFrame, axis: Axis) -> AxisData | None:
    """Points of a varying axis with an `x` column and a `series` label (the other varying axes, held
    fixed along each line). Baseline runs (no intermediate training) cannot sit on a log axis of data
    and are left out of the data axis."""
    if not varies(points, axis.param):
        return None
    frame = points[points["int_ok"] == 1.0] if "int_ok" in points.columns else points
    if axis.key == "data":
        frame = frame[~frame.apply(is_baseline, axis=1)] if len(frame) else frame
    chosen = _x_quantity(frame, axis)
    if chosen is None:
        return None
    column, label, x = chosen
    frame = frame.assign(x=x)
    frame = frame[frame["x"] > 0]
    if frame["x"].nunique() < 2:
        return None
    others = [k for k in config_keys(frame) if k != axis.param and varies(frame, k)]
    frame = frame.assign(series=config_labels(frame, others) if others else "all")
    ranks = [frame[k].map({v: i for i, v in enumerate(value_order(frame, k))}) for k in others]
    frame["series_rank"] = pd.concat(ranks, axis=1).apply(tuple, axis=1) if ranks else [()] * len(frame)
    return AxisData(frame, column, label)


def series_order(frame: pd.DataFrame) -> list[str]:
    """Series labels of an axis frame in scale order."""
    return list(frame.sort_values("series_rank", kind="stable")["series"].drop_duplicates())


def _x_quantity(frame: pd.DataFrame, axis: Axis) -> tuple[str, str, pd.Series] | None:
    """The first x option logged for every point, averaged per configuration (it is a property of it)."""
    for column, label in axis.x_options:
        if column in frame.columns:
            x = pd.to_numeric(frame[column], errors="coerce").groupby(frame["config"]).transform("mean")
            if x.notna().all():
                return column, label, x
    return None


def curve(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean, std over seeds and seed count of `value` for each combination of `by`."""
    stats = frame.groupby(by, dropna=False)[value].agg(["mean", "std", "count"]).reset_index()
    return stats.rename(columns={"count": "n_seeds"})


def marginal(frame: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    """Main effect of `by`: per seed the mean over the other axes, then mean and std over seeds."""
    per_seed = frame.groupby([by, SEED], dropna=False)[value].mean().reset_index()
    return curve(per_seed, value, [by])
