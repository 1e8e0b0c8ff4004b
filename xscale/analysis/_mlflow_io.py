"""MLflow queries the report needs; to be moved into `xscale/tracking.py`, the only mlflow importer.

Everything returned is plain dicts so that no MLflow entity leaks into the analysis.
"""

from __future__ import annotations

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient


def _all_pages(search, *args, **kwargs) -> list:
    items, token = [], None
    while True:
        page = search(*args, page_token=token, **kwargs)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _run_dict(run, experiment_name: str) -> dict:
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "experiment_name": experiment_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "tags": dict(run.data.tags),
        "params": dict(run.data.params),
        # run.data.metrics holds each metric's latest value (highest step, then latest timestamp).
        "metrics": dict(run.data.metrics),
    }


def sweep_parent_runs(tracking_uri: str) -> list[dict]:
    """Every sweep parent run (tag `xscale.role=sweep`) in every active experiment of the store."""
    client = MlflowClient(tracking_uri=tracking_uri)
    names = {e.experiment_id: e.name for e in _all_pages(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)}
    if not names:
        return []
    runs = _all_pages(client.search_runs, list(names), filter_string="tags.`xscale.role` = 'sweep'")
    return [_run_dict(r, names[r.info.experiment_id]) for r in runs]


def child_runs(tracking_uri: str, parent: dict) -> list[dict]:
    """Every run whose `mlflow.parentRunId` tag names the parent run."""
    client = MlflowClient(tracking_uri=tracking_uri)
    runs = _all_pages(
        client.search_runs,
        [parent["experiment_id"]],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent['run_id']}'",
    )
    return [_run_dict(r, parent["experiment_name"]) for r in runs]


def log_report_artifacts(tracking_uri: str, run_id: str, local_dir: str) -> None:
    """Upload the files of local_dir under `report/` of the run."""
    MlflowClient(tracking_uri=tracking_uri).log_artifacts(run_id, local_dir, artifact_path="report")
