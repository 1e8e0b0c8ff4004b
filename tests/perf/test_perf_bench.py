"""`make bench` at smoke size, so the benchmark suite cannot rot (numbers are not asserted: timings here are noise)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_bench_smoke(tmp_path):
    import tempfile
    from pathlib import Path

    before = set(Path(tempfile.gettempdir()).glob("xscale-bench-*"))
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(out.read_text())
    figs = res["figures"]
    assert set(figs) >= {"loop", "padding", "overhead", "cache", "parallelism", "cost_scaling"}
    assert all(r["ratio"] > 0 and r["cpu_efficiency"] > 0 for r in figs["loop"]["rows"])
    assert all(0 <= r["grouped"] <= r["random"] + 1e-9 for r in figs["padding"]["rows"])
    # Without the cache every trial pretrains; with it, once per size.
    assert figs["cache"]["pretrain_runs_no_cache"] == 2 and figs["cache"]["pretrain_runs_cached"] == 1
    assert [r["cells"] for r in figs["cost_scaling"]] == [1, 2]
    assert "padding waste" in proc.stdout and "stage cache" in proc.stdout
    # Progress goes to stderr, one line per step (a full bench runs for well over an hour), without the
    # datasets library's per-map progress bars.
    progress = [line for line in proc.stderr.splitlines() if line.startswith("bench: ")]
    assert any("training loop, size xs" in line for line in progress)
    assert any(line.endswith("cells, no cache ...") for line in progress)
    assert sum("done in" in line for line in progress) == sum(line.endswith("...") for line in progress) >= 4
    assert "Map:" not in proc.stderr
    # The bench's scratch sweeps (specs, caches, MLflow stores) are gone afterwards.
    assert set(Path(tempfile.gettempdir()).glob("xscale-bench-*")) <= before


def test_bench_keep_leaves_the_sweeps_for_a_report(tmp_path):
    """`--keep DIR` runs the bench's sweeps in DIR and leaves them there (store and sweep folder)."""
    keep = tmp_path / "kept"
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--smoke", "--only", "overhead", "--keep", str(keep),
                           "--out", str(tmp_path / "results.json")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (keep / "mlflow.db").is_file() and (keep / "bench_smoke").is_dir()


def test_bench_keep_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--smoke", "--keep", str(tmp_path / "kept"),
                           "--out", str(tmp_path / "results.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--keep" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_bench_refuses_an_unknown_cost_task(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--only", "trial_cost", "--cost-tasks", "udpos", "mlqa",
                           "--out", str(tmp_path / "results.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --cost-tasks: unknown task 'mlqa' (allowed: xnli, pawsx, udpos, panx, xquad, tatoeba, bucc)"]
    assert not (tmp_path / "results.json").exists()
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--only", "loop", "--cost-tasks", "udpos",
                           "--out", str(tmp_path / "results.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --cost-tasks: only trial_cost reads it; add --only trial_cost"
    assert not (tmp_path / "results.json").exists()


def test_trial_cost_spec_trains_the_tasks_asked_for(tmp_path):
    """`--cost-tasks` changes only the target tasks of the spec both versions run."""
    import yaml

    from xscale.perf.bench import _trial_spec
    from xscale.spec import load_spec

    full = yaml.safe_load(_trial_spec(tmp_path, "s", False, "new").read_text())
    study = _trial_spec(tmp_path, "s", False, "new_study", tasks=("udpos", "panx", "tatoeba"))
    assert tuple(load_spec(study).target.tasks) == ("udpos", "panx", "tatoeba")
    study_dict = yaml.safe_load(study.read_text())
    assert full["target"]["tasks"] == ["xnli", "pawsx", "udpos", "panx", "xquad", "tatoeba", "bucc"]
    full["target"]["tasks"] = study_dict["target"]["tasks"]
    assert study_dict == full


def test_mlm_flops_per_token_of_xlmr_base():
    """The MFU numerator counts each matmul weight once (the output projection tied to the word
    embeddings included) and the attention term; lookup tables are not matmuls."""
    import torch

    from xscale import models
    from xscale.perf.bench import mlm_flops_per_token, xlmr_config

    cfg = xlmr_config("base", 512)
    with torch.device("meta"):
        model = models.build(cfg, "mlm")
    d, L, ffn, V, s = 768, 12, 3072, 250002, 512
    per_layer = 4 * d * d + 2 * d * ffn          # Q, K, V, output; the two feed-forward matrices
    head = d * d + V * d                          # the MLM head's transform and the tied decoder
    assert mlm_flops_per_token(model, cfg, s) == 6 * (L * per_layer + head) + 12 * L * d * s


def test_trial_cost_and_asha_figures_at_smoke_size(tmp_path):
    """The figures that compare against the baseline commit (built from git history) and ASHA against FIFO."""
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--smoke", "--only", "trial_cost", "asha",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    figs = json.loads(out.read_text())["figures"]
    cost = figs["trial_cost"]["xs"]
    assert cost["baseline_s"] > 0 and cost["new_s"] > 0 and cost["speedup"] > 0 and cost["new_peak_rss_mb"] > 0
    assert cost["new_bf16_s"] > 0 and cost["new_precision"] == "float32" and cost["new_bf16_precision"] == "bf16"
    assert cost["new_bf16_gated_s"] > 0 and cost["new_bf16_gated_precision"] == "bf16"
    # float32 on both sides and the same arithmetic: the same pretraining and the same numbers
    assert cost["new_pretrain_loss"] == pytest.approx(cost["baseline_pretrain_loss"], abs=1e-6)
    assert cost["max_metric_difference"] < 1e-4, cost
    # every target task of the spec timed, and the ungated retrieval tasks never counted as not learned
    assert set(cost["new_target_s"]) == {"xnli", "pawsx", "udpos", "panx", "xquad", "tatoeba", "bucc"}
    assert set(cost["new_not_learned"]) <= set(cost["new_target_s"]) - {"tatoeba", "bucc"}
    assert 0.0 <= cost["new_not_learned_share"] < 1.0
    # target.gate_zero_shot drops exactly the zero-shot scores of the tasks below the gate (and with them
    # the XTREME score), and changes no number it still reports
    held_back = set(cost["new_not_learned"])
    assert held_back  # at smoke size most of the seeded tasks stay at chance
    assert {k.split("/")[1] for k in cost["gated_dropped"] if k.startswith("target/")} == held_back
    assert "xtreme/score" in cost["gated_dropped"]
    assert cost["max_metric_difference_gated"] == 0.0 and cost["new_gated_s"] > 0
    asha = figs["asha"]
    assert asha["trials"] >= 1 and asha["same_selection"] in (True, False)
    assert "trial stage compute with cached pretraining" in proc.stdout and "ASHA inside each cell" in proc.stdout


def test_precision_figure_pairs_bf16_with_float32_by_seed(tmp_path):
    """Whole trials in each precision, paired by seed, one interval per metric a study reads."""
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "xscale.perf", "--smoke", "--only", "precision", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    fig = json.loads(out.read_text())["figures"]["precision"]
    assert fig["seeds"] == 2 and fig["precisions"] == {"new": ["float32"], "new_bf16": ["bf16"]}
    rows = fig["metrics"]
    assert {"xtreme/score", "dev/score", "target/udpos/avg/accuracy", "align/target/cka/avg/cka"} <= set(rows)
    assert not any(k.startswith("time/") or ("/en/" in k and k.startswith("target/")) for k in rows)
    for r in rows.values():
        assert r["low"] <= r["mean"] <= r["high"] and r["holm_low"] <= r["low"] and r["high"] <= r["holm_high"]
        assert r["mean"] == pytest.approx(sum(b - f for b, f in zip(r["bf16"], r["float32"])) / 2)
    assert any(r["mean"] != 0 for r in rows.values())  # bf16 did change the arithmetic
    assert set(fig["excluding_zero_holm"]) <= set(fig["excluding_zero"])
    assert len(fig["float32_s"]) == len(fig["bf16_s"]) == 2 and fig["speedup"] > 0
    assert "bf16 against float32, 2 paired whole trials at xs" in proc.stdout
