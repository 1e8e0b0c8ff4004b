"""From raw trial rows to analysis tables: best trial per cell, derived scores, per-seed points, axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xscale import keys
from xscale.keys import CHECKPOINT, FRACTION, NO_INTERMEDIATE, SEED, SIZE, TASK
from xscale.tasks.registry import TASKS

SELECTION_METRIC = keys.DEV_SCORE
"""English dev only: choosing by a zero-shot language would leak the test languages into selection."""

CONFIG_KEYS = (SIZE, FRACTION, CHECKPOINT, TASK)
"""The grid axes the analysis knows; a configuration is one value of each, over all seeds."""

SHORT_NAMES = {SIZE: "size", FRACTION: "int. fraction", CHECKPOINT: "ckpt fraction", TASK: "int. task"}

PREFERRED_METRICS = ("f1", "accuracy", "exact_match", "score")
"""For a task the registry does not know: the first of these it logs is its score."""



@dataclass(frozen=True)
class Axis:
    """A scaling axis: its grid param and the x quantities to plot it against, best first."""

    key: str
    param: str
    title: str
    x_options: tuple[tuple[str, str], ...]


AXES = (
    Axis(
        "size",
        SIZE,
        "model size",
        ((keys.scale("non_embedding_params"), "non-embedding parameters"), (keys.scale("params"), "parameters")),
    ),
    Axis(
        "data",
        FRACTION,
        "intermediate-task data",
        (
            (keys.scale("intermediate_examples"), "intermediate-task training examples"),
            (FRACTION, "fraction of the intermediate-task training data"),
        ),
    ),
    Axis(
        "pretrain",
        CHECKPOINT,
        "pretraining",
        (
            (keys.scale("pretrain_tokens"), "pretraining tokens"),
            (CHECKPOINT, "fraction of pretraining (checkpoint)"),
        ),
    ),
)
AXIS_BY_KEY = {axis.key: axis for axis in AXES}


def select_best(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(best FINISHED trial of each cell by dev/score, FINISHED trials that cannot be ranked).

    Trials inside one cell differ only in searched nuisance hyperparameters (e.g. the learning
    rate), so keeping one per cell is model selection; ties go to the lowest trial id.
    """
    finished = runs[runs["status"] == "FINISHED"]
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
    registry's primary metric, else the first of PREFERRED_METRICS logged."""
    found: dict[str, list[str]] = {}
    for column in frame.columns:
        parsed = keys.parse(str(column), stage="target")
        if parsed and parsed.lang == keys.AVG and frame[column].notna().any():
            found.setdefault(parsed.task, []).append(parsed.metric)
    chosen = {}
    for task, metrics in sorted(found.items()):
        # The registry's primary metric is the one dev/score and the XTREME score use (F1 for NER,
        # not token accuracy, which the majority tag inflates).
        registered = TASKS[task].metric if task in TASKS else None
        preferred = [m for m in (registered, *PREFERRED_METRICS) if m in metrics]
        chosen[task] = preferred[0] if preferred else sorted(metrics)[0]
    return chosen


def languages(frame: pd.DataFrame, task: str, metric: str) -> list[str]:
    """Zero-shot languages of a task (everything logged but English and the average)."""
    langs = [p.lang for c in frame.columns
             if (p := keys.parse(str(c), stage="target")) and p.task == task and p.metric == metric]
    return sorted(lang for lang in langs if lang not in (keys.AVG, keys.ENGLISH))


def add_scores(frame: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """Add derived per-run columns, each the mean over target tasks of a per-task quantity.

    zeroshot (mean over non-English languages), zeroshot/{task}, gap (English minus that mean),
    worst_lang (worst non-English language), lang_spread (population std across non-English languages).
    """
    out = frame.copy()
    per_task: dict[str, list[pd.Series]] = {"zeroshot": [], "gap": [], "worst_lang": [], "lang_spread": []}
    for task, metric in metrics.items():
        avg = out[keys.average("target", task, metric)].astype(float)
        out[f"zeroshot/{task}"] = avg
        per_task["zeroshot"].append(avg)
        en = keys.metric("target", task, keys.ENGLISH, metric)
        if en in out.columns:
            per_task["gap"].append(out[en].astype(float) - avg)
        langs = [keys.metric("target", task, lang, metric) for lang in languages(out, task, metric)]
        if langs:
            values = out[langs].astype(float)
            per_task["worst_lang"].append(values.min(axis=1, skipna=False))
            per_task["lang_spread"].append(values.std(axis=1, ddof=0, skipna=False))
    for name, series in per_task.items():
        # A run missing one task's score gets NaN rather than a mean over fewer tasks.
        out[name] = pd.concat(series, axis=1).mean(axis=1, skipna=False) if series else np.nan
    return out


def config_keys(frame: pd.DataFrame) -> list[str]:
    return [key for key in CONFIG_KEYS if key in frame.columns]


def seed_points(selected: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, seed): numeric columns averaged over the cells that share them.

    More than one cell per (configuration, seed) means a grid axis the analysis does not model;
    `n_cells` records it so the report can say the cells were averaged.
    """
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


def config_labels(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    if not keys:
        return pd.Series("all", index=frame.index)
    return frame[keys].apply(
        lambda row: ", ".join(f"{SHORT_NAMES.get(k, k)}={fmt_value(row[k])}" for k in keys), axis=1
    )


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
    return sort_values(values)


def varies(frame: pd.DataFrame, param: str) -> bool:
    return param in frame.columns and frame[param].nunique(dropna=True) >= 2


def sort_values(values) -> list:
    """Axis values in a natural order: numbers ascending, names as they are."""
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values, key=str)


def axis_points(points: pd.DataFrame, axis: Axis) -> tuple[pd.DataFrame, str, str] | None:
    """Points of a varying axis with an `x` column and a `series` label; (frame, x column, x label).

    The series label names the other axes that vary, so each line of a plot holds them fixed. Runs
    without intermediate data (task `none`, or zero examples) cannot sit on a log axis of data and
    are left out of the data axis.
    """
    if not varies(points, axis.param):
        return None
    frame = points
    if axis.key == "data" and "intermediate.task" in frame.columns:
        frame = frame[frame["intermediate.task"].astype(str) != NO_INTERMEDIATE]
    chosen = _x_quantity(frame, axis)
    if chosen is None:
        return None
    column, label, x_by_config = chosen
    frame = frame.assign(x=x_by_config)
    frame = frame[frame["x"] > 0]
    if frame["x"].nunique() < 2:
        return None
    others = [k for k in config_keys(frame) if k != axis.param and varies(frame, k)]
    frame = frame.assign(series=config_labels(frame, others) if others else "all")
    # Ranks keep legends in scale order (xs, s, m, l) rather than alphabetical.
    ranks = [frame[k].map({v: i for i, v in enumerate(value_order(frame, k))}) for k in others]
    frame["series_rank"] = pd.concat(ranks, axis=1).apply(tuple, axis=1) if ranks else [()] * len(frame)
    return frame, column, label


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
    per_seed = frame.groupby([by, "seed"], dropna=False)[value].mean().reset_index()
    return curve(per_seed, value, [by])
