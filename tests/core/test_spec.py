"""The spec: defaults, every error at once, axes and cells, the CLI's validate contract."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xscale.errors import UserError
from xscale.spec import Grid, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_specs_validate():
    for path in sorted((ROOT / "search_spaces").glob("*.yaml")):
        spec = load_spec(path)
        assert spec.name == path.stem
        assert spec.cells()


def test_main_sweep_shape():
    spec = load_spec(ROOT / "search_spaces" / "size_vs_data.yaml")
    axes = spec.grid_axes()
    assert len(axes["model.size"]) == 2
    assert axes["intermediate.fraction"] == (0.0, 0.2, 1.0)  # 0: the no-intermediate baseline
    assert len(axes["pretrain.checkpoint_fraction"]) == 2 and spec.pretrain.schedule == "wsd"
    assert "optim.lr" in spec.searched_axes() and spec.search.algorithm == "optuna"
    assert len(spec.cells()) == 12


@pytest.mark.parametrize("name, question", [("size_alignment", "Q1"), ("data_vs_pretrain", "Q2")])
def test_the_question_studies_have_5_paired_seeds_a_baseline_and_a_primary_endpoint(name, question):
    spec = load_spec(ROOT / "search_spaces" / f"{name}.yaml")
    assert len(spec.grid_axes()["seed"]) >= 5
    assert [e.question for e in spec.analysis.primary] == [question]
    baseline = "none" in spec.grid_axes()["intermediate.task"] or 0.0 in spec.grid_axes()["intermediate.fraction"]
    assert baseline


def test_every_error_reported_at_once():
    data = {
        "model": {"size": {"grid": ["xs", "huge"]}, "colour": "red"},
        "intermediate": {"fraction": {"grid": [0.1, 1.5]}},
        "optim": {"lr": {"loguniform": [1e-4, 3e-3]}},
        "scheduler": {"kind": "hyperband"},
    }
    with pytest.raises(UserError) as e:
        parse_spec(data, name="bad")
    lines = str(e.value).splitlines()
    assert any(ln.startswith("model.colour: unknown key (allowed: family, size") for ln in lines)
    assert any(ln.startswith("scheduler.kind:") and "fifo" in ln and "asha" in ln for ln in lines)
    assert any(ln.startswith("model.size: unknown size 'huge' (allowed: xs, s, m, l)") for ln in lines)
    assert any(ln.startswith("intermediate.fraction: 1.5 is not a fraction") for ln in lines)
    assert any(ln.startswith("search.algorithm: 'grid' cannot search optim.lr") for ln in lines)


def test_axes_grid_and_cells_order_size_fastest():
    spec = parse_spec({"model": {"size": {"grid": ["xs", "s"]}}, "seed": {"grid": [0, 1]}}, name="t")
    assert isinstance(spec.model.size, Grid)
    cells = spec.cells()
    assert [c["model.size"] for c in cells] == ["xs", "s", "xs", "s"]
    assert [c["seed"] for c in cells] == [0, 0, 1, 1]


def test_frozen():
    spec = parse_spec({}, name="t")
    with pytest.raises(Exception):
        spec.name = "other"


def test_hub_checkpoint_fraction_needs_a_checkpoint():
    with pytest.raises(UserError, match=r"pretrain.checkpoint_fraction: 0.5 has no checkpoint"):
        parse_spec({"benchmark": {"kind": "local", "path": "/x"}, "model": {"size": "base"},
                    "intermediate": {"task": "mnli"}, "target": {"tasks": ["xnli"]},
                    "pretrain": {"checkpoint_fraction": {"grid": [0.5, 1.0]}}}, name="t")


def test_objective_must_be_english_dev():
    with pytest.raises(UserError, match="objective.metric"):
        parse_spec({"objective": {"metric": "target/xnli/de/accuracy"}}, name="t")


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "xscale.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_validate_cli(tmp_path):
    ok = _cli("validate", str(ROOT / "search_spaces" / "smoke.yaml"))
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"model": {"size": "huge"}, "typo": 1}))
    r = _cli("validate", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "typo: unknown key" in r.stderr and "model.size: unknown size 'huge'" in r.stderr
    missing = _cli("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    notyaml = tmp_path / "x.yaml"
    notyaml.write_text("a: [1, 2\n")
    r = _cli("validate", str(notyaml))
    assert r.returncode == 2 and "not valid YAML" in r.stderr


def test_validate_does_not_import_heavy_libraries():
    code = ("import sys; from xscale.spec import load_spec; load_spec(%r); "
            "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'transformers') if m in sys.modules))"
            % str(ROOT / "search_spaces" / "smoke.yaml"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_synth_check_refuses_a_non_positive_jobs_count(tmp_path):
    r = _cli("synth", "check", "--out", str(tmp_path / "c"), "--jobs", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--jobs: must be a positive number of processes, got 0" in r.stderr
    assert not (tmp_path / "c").exists()
