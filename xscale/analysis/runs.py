"""Load the trials of one sweep from the tracking store into one DataFrame, one row per trial key."""

from __future__ import annotations

import os

import pandas as pd

from xscale import tracking
from xscale.errors import UserError

STATUS_ORDER = {"FINISHED": 0, "RUNNING": 1, "SCHEDULED": 2, "KILLED": 3, "FAILED": 4}
"""Which run of a trial key to keep when a sweep logged the key more than once."""

FIXED_COLUMNS = ["run_id", "status", "failure_reason", "stopped_after", "trial_id", "trial_key", "cell",
                 "parent_run_id", "start_time", "precision"]


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
    """One row per trial key: the fixed columns, then every param, then every metric.

    A key logged more than once (a sweep whose driver died at the wrong moment, before keys made runs
    exactly-once) keeps one run: the latest FINISHED, else the latest started. `frame.attrs["dropped"]`
    lists the run ids left out.
    """
    rows = []
    for run in children:
        tags = run["tags"]
        row = {
            "run_id": run["run_id"],
            "status": run["status"],
            "failure_reason": tags.get("xscale.failure_reason", ""),
            "stopped_after": tags.get("xscale.stopped_after", ""),
            "trial_id": tags.get("xscale.trial_id", run["run_id"]),
            "trial_key": tags.get("xscale.trial_key") or tags.get("xscale.trial_id", run["run_id"]),
            "cell": tags.get("xscale.cell", ""),
            "parent_run_id": tags.get("mlflow.parentRunId", ""),
            "start_time": run["start_time"],
            "precision": tags.get("precision", ""),
        }
        row.update(run["params"])
        row.update(run["metrics"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=FIXED_COLUMNS)
    frame["_rank"] = frame["status"].map(STATUS_ORDER).fillna(len(STATUS_ORDER))
    frame = frame.sort_values(["_rank", "start_time"], ascending=[True, False])
    kept = frame.drop_duplicates("trial_key")
    dropped = sorted(set(frame["run_id"]) - set(kept["run_id"]))
    frame = kept.drop(columns="_rank")
    params = sorted({k for run in children for k in run["params"]})
    metrics = sorted({k for run in children for k in run["metrics"]} - set(params))
    for name in params:
        frame[name] = _coerce_numeric(frame[name])
    frame = frame[FIXED_COLUMNS + params + metrics].sort_values(["cell", "trial_key"]).reset_index(drop=True)
    frame.attrs["dropped"] = dropped
    return frame


def load_runs(tracking_uri: str, sweep_dir: str, sweep_id: str | None = None) -> tuple[dict, pd.DataFrame]:
    """The sweep's latest parent run (as a dict) and one row per trial of every invocation of the sweep:
    found by its sweep id when the folder recorded one (so a moved folder still finds its runs), else by
    the folder's path, since its last fresh (not resumed) start.

    Raises UserError naming the sweeps the store does hold when none matches.
    """
    tagged = tracking.sweep_parent_runs(tracking_uri)
    if sweep_id:
        parents = [p for p in tagged if p["tags"].get("xscale.sweep_id") == sweep_id]
    else:
        parents = [p for p in tagged if _same_path(p["tags"].get("xscale.sweep_dir", ""), sweep_dir)]
    if not parents:
        known = sorted({f"{p['tags'].get('xscale.sweep', '?')} ({p['tags'].get('xscale.sweep_dir', '?')})"
                        for p in tagged})
        raise UserError(f"no sweep run in {tracking_uri} was recorded for sweep folder {os.path.abspath(sweep_dir)} "
                        f"(sweeps in that store: {', '.join(known) or 'none'})")
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
