"""`xscale report SWEEP_DIR`: the scaling report of one sweep, written locally and onto its parent run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from xscale import sweepfolder, tracking
from xscale.analysis.report import write_report
from xscale.analysis.runs import load_runs
from xscale.analysis.scaling import declared_primary
from xscale.errors import UserError

SQLITE_PREFIX = "sqlite:///"


def default_tracking_uri(sweep_dir: str) -> str:
    """The store of a sweep folder that recorded none: `mlflow.db` beside it (where older sweeps wrote)."""
    return SQLITE_PREFIX + os.path.join(os.path.dirname(os.path.realpath(sweep_dir)), "mlflow.db")


def tracking_uri_of(sweep_dir: str, given: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the URI the sweep folder recorded, else the default."""
    record = sweepfolder.read(sweep_dir)
    uri = given or os.environ.get("MLFLOW_TRACKING_URI") or (record.tracking_uri if record else None) \
        or default_tracking_uri(sweep_dir)
    problem = tracking.check_uri(uri)
    if problem:
        raise UserError(f"--tracking-uri: {uri}: {problem}")
    # Opening a missing SQLite file would silently create an empty store and report "no runs".
    if uri.startswith(SQLITE_PREFIX):
        path = uri[len(SQLITE_PREFIX):]
        if path != ":memory:" and not os.path.isfile(path):
            raise UserError(f"no MLflow store at {path} (pass --tracking-uri or set MLFLOW_TRACKING_URI to the "
                            "sweep's store)")
    return uri


def report_main(sweep_dir: str, tracking_uri: str | None, out: str | None) -> int:
    """Analyse the sweep in sweep_dir, write report.md, runs.csv, effects.csv and plots to out
    (default SWEEP_DIR/report/), log them under `report/` of the sweep's parent run; returns 0.
    """
    if not os.path.isdir(sweep_dir):
        raise UserError(f"sweep folder not found: {sweep_dir}")
    uri = tracking_uri_of(sweep_dir, tracking_uri)
    record = sweepfolder.read(sweep_dir)
    parent, runs = load_runs(uri, sweep_dir, record.sweep_id if record else None)
    if runs.empty:
        raise UserError(f"the sweep in {os.path.abspath(sweep_dir)} has no trial runs in {uri}")
    out_dir = Path(out) if out else Path(sweep_dir) / "report"
    # Written to a fresh folder first so the parent run gets exactly this report, not stale files of out_dir.
    with tempfile.TemporaryDirectory(prefix="xscale-report-") as staging:
        files = write_report(runs, parent, staging, primary=declared_primary(parent))
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy2(path, out_dir / path.name)
        # After the local copy, so an unreachable tracking server still leaves the report on disk.
        tracking.log_report_artifacts(uri, parent["run_id"], staging)
    print(f"report: {out_dir / 'report.md'} (also logged under report/ of run {parent['run_id']})")
    return 0
