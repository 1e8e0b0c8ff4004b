"""Load the trials of one sweep folder from the tracking store into one DataFrame."""

from __future__ import annotations

import os

import pandas as pd

from xscale import tracking
from xscale.errors import UserError

STATUS_ORDER = {"FINISHED": 0, "RUNNING": 1, "SCHEDULED": 2, "KILLED": 3, "FAILED": 4}
"""Which run of a trial id to keep when a resumed sweep logged the trial more than once."""

FIXED_COLUMNS = ["run_id", "status", "failure_reason", "trial_id", "cell", "parent_run_id", "start_time"]


def _same_path(tagged: str, sweep_dir: str) -> bool:
    if not tagged:
        return False
    if os.path.normpath(tagged) == os.path.normpath(os.path.abspath(sweep_dir)):
        return True
    return os.path.realpath(tagged) == os.path.realpath(sweep_dir)


def _coerce_numeric(values: pd.Series) -> pd.Series:
    """Params arrive as strings; a column that parses entirely as numbers becomes numeric."""
    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def runs_frame(children: list[dict]) -> pd.DataFrame:
    """One row per trial: the fixed columns, then every param, then every metric.

    Runs of the same `xscale.trial_id` (a resumed sweep) collapse to one: FINISHED first, then the
    latest started.
    """
    rows = []
    for run in children:
        tags = run["tags"]
        row = {
            "run_id": run["run_id"],
            "status": run["status"],
            "failure_reason": tags.get("xscale.failure_reason", ""),
            "trial_id": tags.get("xscale.trial_id", run["run_id"]),
            "cell": tags.get("xscale.cell", ""),
            "parent_run_id": tags.get("mlflow.parentRunId", ""),
            "start_time": run["start_time"],
        }
        row.update(run["params"])
        row.update(run["metrics"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=FIXED_COLUMNS)
    frame["_rank"] = frame["status"].map(STATUS_ORDER).fillna(len(STATUS_ORDER))
    frame = frame.sort_values(["_rank", "start_time"], ascending=[True, False])
    frame = frame.drop_duplicates("trial_id").drop(columns="_rank")
    params = sorted({k for run in children for k in run["params"]})
    metrics = sorted({k for run in children for k in run["metrics"]} - set(params))
    for name in params:
        frame[name] = _coerce_numeric(frame[name])
    frame = frame[FIXED_COLUMNS + params + metrics]
    return frame.sort_values(["cell", "trial_id"]).reset_index(drop=True)


def load_runs(tracking_uri: str, sweep_dir: str) -> tuple[dict, pd.DataFrame]:
    """The sweep's parent-run info and one row per trial of every invocation of the sweep folder
    since its last fresh (not resumed) start.

    Raises UserError when no sweep parent run names this folder.
    """
    tagged = tracking.sweep_parent_runs(tracking_uri)
    parents = [p for p in tagged if _same_path(p["tags"].get("xscale.sweep_dir", ""), sweep_dir)]
    if not parents:
        raise UserError(f"no sweep run in {tracking_uri} was recorded for sweep folder {os.path.abspath(sweep_dir)}")
    parents.sort(key=lambda p: p["start_time"] or 0)
    # A fresh (not --resume) sweep into the folder starts its history over: earlier invocations there
    # belong to a sweep whose files were removed, and their trials must not mix with this one's.
    fresh = [i for i, p in enumerate(parents) if p["params"].get("resume") == "False"]
    if fresh:
        parents = parents[fresh[-1]:]
    latest = parents[-1]
    children = [child for parent in parents for child in tracking.child_runs(tracking_uri, parent)]
    info = {
        "run_id": latest["run_id"],
        "run_ids": [p["run_id"] for p in parents],
        "experiment_id": latest["experiment_id"],
        "experiment_name": latest["experiment_name"],
        "sweep": latest["tags"].get("xscale.sweep", ""),
        "sweep_dir": latest["tags"].get("xscale.sweep_dir", ""),
        "spec_name": latest["params"].get("spec.name", ""),
        "tracking_uri": tracking_uri,
        "params": latest["params"],
        "tags": latest["tags"],
    }
    return info, runs_frame(children)
