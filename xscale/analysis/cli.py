"""`xscale report SWEEP_DIR`: the scaling report of one sweep, written locally and onto its parent run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from xscale import tracking
from xscale.analysis.report import write_report
from xscale.analysis.runs import load_runs
from xscale.analysis.scaling import declared_primary
from xscale.errors import UserError

SQLITE_PREFIX = "sqlite:///"


def default_tracking_uri(sweep_dir: str) -> str:
    """The store a sweep writes by default: `mlflow.db` beside the sweep folders."""
    # realpath, as the sweep resolves its folder before placing the store beside it.
    return SQLITE_PREFIX + os.path.join(os.path.dirname(os.path.realpath(sweep_dir)), "mlflow.db")


def _check_store(tracking_uri: str) -> None:
    # Opening a missing SQLite file would silently create an empty store and report "no runs".
    if tracking_uri.startswith(SQLITE_PREFIX):
        path = tracking_uri[len(SQLITE_PREFIX):]
        if path != ":memory:" and not os.path.isfile(path):
            raise UserError(f"no MLflow store at {path} (pass --tracking-uri to point at the sweep's store)")


def report_main(sweep_dir: str, tracking_uri: str | None, out: str | None) -> int:
    """Analyse the sweep in sweep_dir, write report.md, runs.csv, fits.csv and plots to out
    (default SWEEP_DIR/report/), log them under `report/` of the sweep's parent run; returns 0.
    """
    if not os.path.isdir(sweep_dir):
        raise UserError(f"sweep folder not found: {sweep_dir}")
    tracking_uri = tracking_uri or default_tracking_uri(sweep_dir)
    _check_store(tracking_uri)
    parent, runs = load_runs(tracking_uri, sweep_dir)
    if runs.empty:
        raise UserError(f"the sweep in {os.path.abspath(sweep_dir)} has no trial runs in {tracking_uri}")
    out_dir = Path(out) if out else Path(sweep_dir) / "report"
    # Written to a fresh folder first so the parent run gets exactly this report, not stale files of out_dir.
    with tempfile.TemporaryDirectory(prefix="xscale-report-") as staging:
        files = write_report(runs, parent, staging, primary=declared_primary(parent))
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy2(path, out_dir / path.name)
        # After the local copy, so an unreachable tracking server still leaves the report on disk.
        tracking.log_report_artifacts(tracking_uri, parent["run_id"], staging)
    print(f"report: {out_dir / 'report.md'} (also logged under report/ of run {parent['run_id']})")
    return 0
