"""The MLflow UI over a smoke sweep's store: children nested under the sweep, axes as params, `scale/*` metrics,
a training-loss chart and a scatter of `xtreme/score` against `scale/params`.

A real `mlflow server` (127.0.0.1, free port) serves a store written by `xscale.tracking.Tracker` exactly as
a sweep writes it; headless Chromium (the Debian package, driven by Playwright) opens the experiment's
runs page. The screenshot lands in `test-artifacts/mlflow_ui.png`, also when an assertion fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-artifacts" / "mlflow_ui.png"
CHARTS_SCREENSHOT = ROOT / "test-artifacts" / "mlflow_ui_charts.png"
CHROMIUM = Path(os.environ.get("XSCALE_CHROMIUM", "/usr/bin/chromium"))
# --headless is also what Playwright passes; the profile is a fresh --user-data-dir per test (tmp_path).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SERVER_START_S = 120
"""Upper bound for `mlflow server` to answer /health (about 25 s on a loaded 2-core machine)."""
UI_WAIT_MS = 45_000

EXPERIMENT, SWEEP = "xscale-smoke", "smoke"
AXES = ("model.size", "intermediate.fraction", "pretrain.checkpoint_fraction")
TRIALS = {  # run name -> (axes, non-embedding params): three cells of the smoke grid
    name: (dict(zip(AXES, axes)), n_params) for name, axes, n_params in (
        ("trial_main_00000", ("xs", 0.3, 1.0), 149952),
        ("trial_main_00001", ("xs", 1.0, 0.5), 149952),
        ("trial_main_00002", ("s", 0.3, 1.0), 599040),
    )
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)")


def _params_text(v) -> str:
    """How tracking writes a param value (floats by repr)."""
    return repr(v) if isinstance(v, float) else str(v)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sweep's MLflow store: one finished parent run, one finished child per trial."""
    from xscale.tracking import Tracker

    tmp = tmp_path_factory.mktemp("mlflow_ui")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    t = Tracker(uri, EXPERIMENT, SWEEP, str(tmp / SWEEP), sweep_id="ui-test")
    parent = t.start_sweep(
        {"spec.name": SWEEP, "spec.file": "search_spaces/smoke.yaml", "resume": False, "cache": True},
        {"spec.yaml": "description: smoke\n", "resolved.json": "{}"})
    children = {}
    for i, (name, (axes, n_params)) in enumerate(TRIALS.items()):
        rid, _ = t.trial_run(f"cell{i}#0", f"trial{i:05d}", f"cell{i}", {**axes, "seed": 0, "optim.lr": 1e-3},
                             name=name)
        t.log(rid, {"scale/non_embedding_params": n_params, "scale/params": 2 * n_params,
                    "scale/intermediate_examples": 1000 * axes["intermediate.fraction"],
                    "target/xnli/avg/accuracy": 40.0 + i, "xtreme/score": 30.0 + i}, step=1)
        # A training curve as a trial reports it: [step, mean loss of the window, learning rate].
        t.log_curves(rid, {"target/xnli": [[10 * k, 1.2 - 0.05 * k, 1e-3 * (1 - k / 10)] for k in range(1, 11)]})
        t.finish(rid, "FINISHED")
        children[name] = rid
    t.end_sweep("FINISHED", {"sweep/trials_finished": len(TRIALS)})
    return {"dir": tmp, "uri": uri, "experiment_id": t.experiment_id, "parent": parent, "children": children}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


@pytest.fixture(scope="module")
def server(store):
    """`mlflow server` over the store; its whole process group is killed at teardown."""
    port, log = _free_port(), store["dir"] / "server.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store["uri"],
           "--artifacts-destination", str(store["dir"] / "mlartifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # No job runner: it forks seven huey consumers this test does not need.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=store["dir"], env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer within {SERVER_START_S} s:\n{_log_tail(log)}")
            time.sleep(0.5)
        yield base
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; uvicorn workers of the same group may still linger.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def _search_runs(base: str, experiment_id: str) -> list[dict]:
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}).encode()
    req = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r).get("runs", [])


def test_rest_api_shows_children_with_axes_and_scale_metrics(server, store):
    runs = _search_runs(server, store["experiment_id"])
    by_name = {r["info"]["run_name"]: r for r in runs}
    assert set(by_name) >= {SWEEP, *TRIALS}, f"runs in the experiment: {sorted(by_name)}"
    for name, (axes, n_params) in TRIALS.items():
        run = by_name[name]
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        assert tags.get("mlflow.parentRunId") == store["parent"], name
        assert run["info"]["status"] == "FINISHED", name
        assert {k: params.get(k) for k in AXES} == {k: _params_text(v) for k, v in axes.items()}, name
        # Latest values of scale/* are what the chart views offer as axes.
        assert metrics.get("scale/non_embedding_params") == n_params, name
        assert {"scale/params", "scale/intermediate_examples"} <= set(metrics), name
    parent_tags = {t["key"]: t["value"] for t in by_name[SWEEP]["data"].get("tags", [])}
    assert "mlflow.parentRunId" not in parent_tags
    assert parent_tags.get("xscale.role") == "sweep"


@contextmanager
def _browser_page(tmp_path: Path, screenshot: Path, width: int):
    """A headless Chromium page on a fresh profile; the screenshot is taken however the test ends."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        # launch_persistent_context: Playwright refuses --user-data-dir in args and takes the folder here.
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(UI_WAIT_MS)
        try:
            yield page
        finally:
            page.screenshot(path=str(screenshot))
            context.close()


@needs_chromium
def test_ui_lists_children_nested_under_the_sweep(server, store, tmp_path):
    with _browser_page(tmp_path, SCREENSHOT, width=1920) as page:
        page.goto(f"{server}/#/experiments/{store['experiment_id']}/runs", wait_until="domcontentloaded")
        name_cells = page.locator('[role="gridcell"][col-id*="Run Name"]')
        parent_cell = name_cells.filter(has=page.get_by_role("link", name=SWEEP, exact=True))
        parent_cell.first.wait_for()
        _close_assistant(page)

        # Nested: the sweep's row carries the expander, its trials appear under it once expanded.
        expander = parent_cell.first.locator("button")
        assert expander.count() == 1, "the sweep's row has no expander for nested child runs"
        if not page.get_by_role("link", name=next(iter(TRIALS)), exact=True).is_visible():
            expander.click()
        for name in TRIALS:
            page.get_by_role("link", name=name, exact=True).wait_for()
        parent_x = page.get_by_role("link", name=SWEEP, exact=True).bounding_box()["x"]
        for name in TRIALS:
            child_x = page.get_by_role("link", name=name, exact=True).bounding_box()["x"]
            assert child_x > parent_x, f"{name} is not indented under {SWEEP} ({child_x} <= {parent_x})"

        # The column picker offers the scale metric and the axes (the same keys the chart views offer);
        # shown as columns, the children's values appear in the table.
        page.get_by_role("button", name="Columns", exact=True).click()
        for column in ("scale/non_embedding_params", *AXES):
            page.locator(f'[title="{column}"]').first.click()
        page.keyboard.press("Escape")
        for _, n_params in TRIALS.values():
            page.locator('[role="gridcell"]', has_text=str(n_params)).first.wait_for()


def _close_assistant(page) -> None:
    """MLflow 3.x opens an assistant side panel over part of the table; close it when present."""
    close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close.count() and close.first.is_visible():
        close.first.click()


@needs_chromium
def test_ui_charts_a_loss_curve_and_the_score_against_parameters(server, store, tmp_path):
    """The chart view of the experiment: the trials' `train/target/xnli/loss` step metric is drawn as a
    line chart, and a scatter chart of `xtreme/score` against `scale/params` can be added over the trials."""
    with _browser_page(tmp_path, CHARTS_SCREENSHOT, width=1600) as page:
        page.goto(f"{server}/#/experiments/{store['experiment_id']}/runs?compareRunsMode=CHART",
                  wait_until="domcontentloaded")
        page.get_by_role("link", name=SWEEP, exact=True).wait_for()
        _close_assistant(page)
        first = page.get_by_role("link", name=next(iter(TRIALS)), exact=True)
        page.wait_for_timeout(1000)
        if not first.is_visible():  # the trials are nested under the sweep: show them
            page.locator('[data-component-id*="runnamecellrenderer"]').first.click()
        first.wait_for()
        # A scatter chart of the score against the parameter count, over the trials.
        page.get_by_role("button", name="Add chart").first.click()
        page.get_by_role("menuitem", name="Scatter chart").click()
        dialog = page.get_by_role("dialog")
        axes = dialog.locator(".du-bois-light-select-selector")
        for axis, metric in ((0, "scale/params"), (1, "xtreme/score")):
            axes.nth(axis).click()
            page.keyboard.type(metric)
            page.wait_for_timeout(800)  # the typed text filters the options; Enter takes the first
            page.keyboard.press("Enter")
        dialog.get_by_role("button", name="Add chart").click()
        page.get_by_text("scale/params vs. xtreme/score", exact=True).first.wait_for()
        # The loss curve, logged per training step, has its chart without any set-up (the chart
        # search brings it into view: the page renders only the charts on screen).
        page.get_by_placeholder("Search metric charts").fill("train/target/xnli/loss")
        page.get_by_text("train/target/xnli/loss", exact=True).first.wait_for()
        # Drawn: a trial's line is in the chart's legend.
        page.get_by_text(f"{next(iter(TRIALS))} (train/target/xnli/loss)").first.wait_for()
