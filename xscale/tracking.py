"""MLflow bookkeeping: one parent run per sweep invocation, one child run per trial.

The only module that imports mlflow. Trials never talk to MLflow themselves: the sweep driver logs
what they report, in batches and asynchronously (one request per key was measured at ~170 ms per
report). A trial's run is found again by its tag `xscale.trial_id`, so a resumed sweep continues the
run it had instead of opening a second one.
"""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from xscale import keys
from xscale.errors import UserError

ROLE, SWEEP, SWEEP_DIR, SWEEP_ID = "xscale.role", "xscale.sweep", "xscale.sweep_dir", "xscale.sweep_id"
TRIAL_ID, TRIAL_KEY, CELL, REASON = "xscale.trial_id", "xscale.trial_key", "xscale.cell", "xscale.failure_reason"
STOPPED_AFTER = "xscale.stopped_after"
"""Tag of a trial the scheduler stopped early: the last stage it ran."""
PARENT = "mlflow.parentRunId"
_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")
SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")
"""Tracking URI schemes MLflow's client accepts."""


def default_uri(root: Path) -> str:
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def check_uri(uri: str) -> str | None:
    """Why MLflow would reject a tracking URI (checked before anything is created), or None."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if not scheme:
        return "not a URI (allowed: sqlite:///PATH/mlflow.db, http(s)://HOST:PORT or another MLflow store URI)"
    if scheme.split("+")[0] not in SCHEMES:
        return f"unknown scheme {scheme!r} (allowed: {', '.join(SCHEMES)})"
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        return "a SQLite URI needs three slashes: sqlite:///relative/path.db or sqlite:////absolute/path.db"
    return None


def metric_key(key: str) -> str:
    """MLflow accepts letters, digits and `_-. /` in keys; anything else becomes `_`."""
    return _BAD_KEY.sub("_", key)


def _status_of(name: str) -> str:
    return {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}[name]


class Tracker:
    """Runs of one sweep (every invocation of one sweep folder, found by its sweep id) in one experiment."""

    def __init__(self, uri: str, experiment: str, sweep_name: str, sweep_dir: str, sweep_id: str):
        # MLflow announces its database migrations at INFO; a sweep's terminal is for the sweep.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        self.client = _client(uri)
        self.uri = uri
        self.sweep_name = sweep_name
        self.sweep_dir = str(sweep_dir)
        self.sweep_id = sweep_id
        try:
            self.experiment_id = self._experiment(experiment)
        except MlflowException as err:
            raise _unusable(uri, err) from None
        self.parent_id: str | None = None
        self._pending: list[Any] = []
        self._logged: dict[str, set[tuple[str, int]]] = {}  # reopened runs: (key, step) already there
        self._tagged: dict[tuple[str, str], str] = {}

    def _experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        artifacts = None
        if self.uri.startswith("sqlite:///"):
            # Keep artifacts beside the database, not in ./mlruns of whatever folder we run from.
            artifacts = (Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
        try:
            # The kind tag makes the MLflow UI open on the runs table, not on the GenAI traces page.
            return self.client.create_experiment(name, artifact_location=artifacts,
                                                 tags={"mlflow.experimentKind": "custom_model_development"})
        except MlflowException:
            return self.client.get_experiment_by_name(name).experiment_id  # created concurrently

    def _search(self, condition: str) -> list:
        return _all_pages(self.client.search_runs, [self.experiment_id],
                          filter_string=f"tags.`{SWEEP_ID}` = '{self.sweep_id}' and {condition}")

    # ------------------------------------------------------------------------------------ parent
    def close_dead_parents(self) -> None:
        """A parent run still RUNNING belongs to a driver that died without closing it (SIGKILL, lost
        node); the invocation that takes over records it as KILLED."""
        for run in self._search(f"tags.`{ROLE}` = 'sweep' and attributes.status = 'RUNNING'"):
            self.client.set_terminated(run.info.run_id, "KILLED")

    def start_sweep(self, params: dict[str, Any], artifacts: dict[str, str], tags: dict[str, str] | None = None) -> str:
        self.close_dead_parents()
        run = self.client.create_run(
            self.experiment_id,
            run_name=self.sweep_name,
            tags={ROLE: "sweep", SWEEP: self.sweep_name, SWEEP_DIR: self.sweep_dir, SWEEP_ID: self.sweep_id,
                  **(tags or {})},
        )
        self.parent_id = run.info.run_id
        self.client.log_batch(self.parent_id, params=[Param(k, _param(v)) for k, v in params.items()])
        for name, text in artifacts.items():
            self.client.log_text(self.parent_id, text, name)
        return self.parent_id

    def end_sweep(self, status: str, metrics: dict[str, float] | None = None) -> None:
        self.flush()
        if metrics:
            self.client.log_batch(self.parent_id, metrics=_metrics(metrics, step=0))
        self.client.set_terminated(self.parent_id, _status_of(status))

    # ------------------------------------------------------------------------------------ children
    def trial_run(self, key: str, trial_id: str, cell: str, params: dict[str, Any], name: str) -> tuple[str, bool]:
        """The child run of trial `key` and whether it already FINISHED. A key keeps one run across
        invocations: a FINISHED run stays as it is; an unfinished one (KILLED, FAILED, or RUNNING under a
        dead driver) is reopened, and the results it already holds are not logged a second time when
        the rerun (from cached stages) reports them again."""
        runs = self.runs_of(key)
        if any(r.info.status == "FINISHED" for r in runs):
            return next(r for r in runs if r.info.status == "FINISHED").info.run_id, True
        if runs:
            existing = runs[0].info.run_id
            self._logged[existing] = {(k, m.step) for k in runs[0].data.metrics
                                      for m in self.client.get_metric_history(existing, k)}
            self.client.set_tag(existing, TRIAL_ID, trial_id)
            self.client.update_run(existing, status="RUNNING")
            return existing, False
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={ROLE: "trial", PARENT: self.parent_id, TRIAL_ID: trial_id, TRIAL_KEY: key, CELL: cell,
                  SWEEP: self.sweep_name, SWEEP_DIR: self.sweep_dir, SWEEP_ID: self.sweep_id},
        )
        self.client.log_batch(run.info.run_id, params=[Param(k, _param(v)) for k, v in params.items()])
        return run.info.run_id, False

    def runs_of(self, key: str) -> list:
        """The runs of one trial key, latest first."""
        return sorted(self._search(f"tags.`{TRIAL_KEY}` = '{key}' and tags.`{ROLE}` = 'trial'"),
                      key=lambda r: r.info.start_time or 0, reverse=True)

    def log(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """Queue one batch of metrics (asynchronous; `flush` waits for every queued batch)."""
        logged = self._logged.get(run_id, ())
        batch = [m for m in _metrics(metrics, step) if (m.key, m.step) not in logged]
        if batch:
            self._pending.append(self.client.log_batch(run_id, metrics=batch, synchronous=False))

    def log_curves(self, run_id: str, curves: dict[str, list]) -> None:
        """Training curves as step metrics `train/{stage}/{task}/loss` and `.../lr` (one batch per curve),
        so MLflow charts them against the training step."""
        logged = self._logged.get(run_id, ())
        now = int(time.time() * 1000)
        for name, points in curves.items():
            stage, _, task = name.partition("/")
            batch = [Metric(metric_key(keys.train_curve(stage, task, what)), float(value), now, int(step))
                     for step, loss, lr in points for what, value in (("loss", loss), ("lr", lr))
                     if math.isfinite(value)]
            batch = [m for m in batch if (m.key, m.step) not in logged]
            for start in range(0, len(batch), 1000):  # MLflow takes at most 1000 metrics per batch
                self._pending.append(self.client.log_batch(run_id, metrics=batch[start:start + 1000],
                                                           synchronous=False))

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Text records of a run (e.g. `data/{task}/{lang}/split`), each set once."""
        new = {k: str(v) for k, v in tags.items() if self._tagged.get((run_id, k)) != str(v)}
        if new:
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in new.items()])
            self._tagged.update({(run_id, k): v for k, v in new.items()})

    def finish(self, run_id: str, status: str, reason: str | None = None, stopped_after: str | None = None) -> None:
        self.flush()
        if reason:
            self.client.set_tag(run_id, REASON, reason[:5000])
        if stopped_after:
            self.client.set_tag(run_id, STOPPED_AFTER, stopped_after)
        self.client.set_terminated(run_id, _status_of(status))

    def flush(self) -> None:
        for op in self._pending:
            if op is not None:
                op.wait()
        self._pending.clear()

    def runs(self) -> list:
        """Every child run of this sweep (all invocations)."""
        return self._search(f"tags.`{ROLE}` = 'trial'")


def _param(v: Any) -> str:
    s = v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)
    return s[:6000]


def _metrics(values: dict[str, Any], step: int) -> list[Metric]:
    now = int(time.time() * 1000)
    out = []
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or "/" not in k:
            continue
        out.append(Metric(metric_key(k), float(v) if math.isfinite(v) else float("nan"), now, step))
    return out


# ------------------------------------------------------------------ reading (for xscale report)
# Plain dicts only, so that no MLflow entity leaks into the analysis.

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


def _client(uri: str) -> MlflowClient:
    """A client of the store at `uri`; a store this MLflow refuses when the client is built (a file
    store: MLflow's file backend is in maintenance mode) is the user's `--tracking-uri`, a UserError."""
    try:
        return MlflowClient(tracking_uri=uri)
    except MlflowException as err:
        raise _unusable(uri, err) from None


def _unusable(uri: str, err: MlflowException) -> UserError:
    """The one-line error for a store MLflow cannot use: its first sentence, and what works."""
    reason = str(err).splitlines()[0].split(". ")[0][:200]
    return UserError(f"--tracking-uri: {uri}: MLflow cannot use it ({reason}); a database store works, "
                     "e.g. sqlite:///path/to/mlflow.db")


def sweep_parent_runs(tracking_uri: str) -> list[dict]:
    """Every sweep parent run (tag `xscale.role=sweep`) in every active experiment of the store."""
    client = _client(tracking_uri)
    names = {e.experiment_id: e.name for e in _all_pages(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)}
    if not names:
        return []
    runs = _all_pages(client.search_runs, list(names), filter_string="tags.`xscale.role` = 'sweep'")
    return [_run_dict(r, names[r.info.experiment_id]) for r in runs]


def child_runs(tracking_uri: str, parent: dict) -> list[dict]:
    """Every run whose `mlflow.parentRunId` tag names the parent run."""
    client = _client(tracking_uri)
    runs = _all_pages(
        client.search_runs,
        [parent["experiment_id"]],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent['run_id']}'",
    )
    return [_run_dict(r, parent["experiment_name"]) for r in runs]


def log_report_artifacts(tracking_uri: str, run_id: str, local_dir: str) -> None:
    """Upload the files of local_dir under `report/` of the run."""
    _client(tracking_uri).log_artifacts(run_id, local_dir, artifact_path="report")


__all__ = ["Tracker", "default_uri", "metric_key", "sweep_parent_runs", "child_runs",
           "log_report_artifacts"]
