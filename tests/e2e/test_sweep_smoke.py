"""End to end: `xscale sweep smoke.yaml` through Ray Tune and MLflow, then the same sweep again from the cache."""

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from xscale.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "search_spaces" / "smoke.yaml"
pytestmark = pytest.mark.slow


def _sweep(tmp, out, *extra):
    cmd = [sys.executable, "-m", "xscale.cli", "sweep", str(SMOKE), "--out", str(tmp / out),
           "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--cache-dir", str(tmp / "cache"), "--cpus", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    first = _sweep(tmp, "first")
    second = _sweep(tmp, "second")
    return tmp, first, second


def _children(client, tmp, out):
    exp = client.get_experiment_by_name("xscale-smoke")
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`xscale.sweep_dir` = '{tmp / out}'")
    parents = [r for r in runs if r.data.tags.get("xscale.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("xscale.role") == "trial"]
    return parents, children


def test_sweep_records_every_trial(sweeps):
    tmp, first, _ = sweeps
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    spec = load_spec(SMOKE)
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    parents, children = _children(client, tmp, "first")
    assert len(parents) == 1
    assert len(children) == len(spec.cells()) * spec.search.trials_per_cell
    assert {c.info.status for c in children} == {"FINISHED"}
    assert parents[0].info.status == "FINISHED"
    for c in children:
        assert c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        for axis in ("model.size", "intermediate.fraction", "pretrain.checkpoint_fraction", "optim.lr", "seed"):
            assert axis in c.data.params
        m = c.data.metrics
        for key in ("target/xnli/en/accuracy", "target/xnli/avg/accuracy", "target/udpos/sov/f1",
                    "target/xquad/clone/f1", "target/tatoeba/near/accuracy", "target/bucc/vso/f1",
                    "intermediate/mnli/en/accuracy", "dev/score", "xtreme/score",
                    "align/pretrain/retrieval/clone/accuracy", "align/intermediate/cka/avg/cka",
                    "align/target/retrieval/avg/accuracy", "align/retention/retrieval/avg",
                    "scale/params", "scale/non_embedding_params", "scale/pretrain_tokens",
                    "scale/intermediate_examples", "scale/train_flops",
                    # The learning gate, the random-init reference, debiased CKA, the middle layer, the drop.
                    "learned/target/udpos", "learned/intermediate/mnli", "align/random/retrieval/avg/accuracy",
                    "align/pretrain/cka_debiased/avg/cka", "align/pretrain/retrieval_mid/avg/accuracy",
                    "align/drop/retrieval/avg", "align/drop_target/cka_debiased/avg"):
            assert key in m, key
    # The driver generated the benchmark before the trials started (they only read it).
    assert f"benchmark: {tmp / 'cache' / 'benchmarks'}/" in first.stdout
    # Pretraining ran once per size, serving both checkpoint fractions.
    assert "pretraining ran 2 time(s)" in first.stdout
    # Per-stage compute: pretraining is charged to the trials that ran it, and the sweep sums the stages.
    ran_pretrain = [c for c in children if "time/compute/pretrain_seconds" in c.data.metrics]
    assert len(ran_pretrain) == 2 and all(c.data.metrics["time/compute/pretrain_seconds"] > 0 for c in ran_pretrain)
    assert all(c.data.metrics["time/compute/target_seconds"] > 0 for c in children)
    for c in children:
        parts = [v for k, v in c.data.metrics.items() if k.startswith("time/compute/")]
        assert sum(parts) == pytest.approx(c.data.metrics["time/stage_compute_seconds"])
    parent = parents[0].data.metrics
    assert parent["sweep/compute_seconds/pretrain"] == pytest.approx(
        sum(c.data.metrics["time/compute/pretrain_seconds"] for c in ran_pretrain))
    assert "stage compute of the finished trials" in first.stdout
    assert "model.size" in first.stdout.splitlines()[-1] or "FINISHED" in first.stdout


def test_second_identical_sweep_is_all_cache_hits(sweeps):
    tmp, _, second = sweeps
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "pretraining ran 0 time(s)" in second.stdout
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    _, children = _children(client, tmp, "second")
    assert children and all(not any(k.startswith(("cache/computed/", "time/compute/")) for k in c.data.metrics)
                            for c in children)


def test_runs_are_named_by_their_axes_and_carry_curves_and_provenance(sweeps):
    import re

    tmp, first, _ = sweeps
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    parents, children = _children(client, tmp, "first")
    for c in children:
        assert re.fullmatch(r"(xs|s)-mnli-if(0\.3|1)-ck(0\.5|1)-s0-t0", c.info.run_name), c.info.run_name
        assert c.data.tags["xscale.trial_key"].endswith("#0")
        losses = client.get_metric_history(c.info.run_id, "train/target/xnli/loss")
        assert len(losses) >= 1 and len({m.step for m in losses}) == len(losses)
        assert client.get_metric_history(c.info.run_id, "train/intermediate/mnli/lr")
    tags = parents[0].data.tags
    assert {"xscale.version.torch", "xscale.version.ray", "xscale.version.transformers", "xscale.spec_sha256",
            "xscale.sweep_id"} <= set(tags)
    # The last lines say what to do next.
    assert "next: `xscale report" in first.stderr + first.stdout


def test_the_sweep_folder_records_its_store_and_a_moved_folder_still_reports(sweeps, tmp_path):
    import json
    import os
    import shutil

    tmp, _, _ = sweeps
    record = json.loads((tmp / "first" / "xscale-sweep.json").read_text())
    assert record["tracking_uri"] == f"sqlite:///{tmp / 'mlflow.db'}"
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp / "first", moved)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    proc = subprocess.run([sys.executable, "-m", "xscale.cli", "report", str(moved)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (moved / "report" / "report.md").exists()


@pytest.mark.parametrize("uri", ["{tmp}/plain/path", "file://{tmp}/plain/path"], ids=["path", "file_store"])
def test_a_bad_tracking_uri_is_one_line_and_creates_nothing(tmp_path, uri):
    # A file store is refused by MLflow itself (its file backend is in maintenance mode).
    cmd = [sys.executable, "-m", "xscale.cli", "sweep", str(SMOKE), "--out", str(tmp_path / "out"),
           "--tracking-uri", uri.format(tmp=tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: --tracking-uri:"), proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists() and not (tmp_path / "plain").exists()
