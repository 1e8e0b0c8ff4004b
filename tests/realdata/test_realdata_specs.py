"""The real-data sweep specs validate, and relative data paths resolve against the spec's folder."""

import subprocess
import sys

import pytest

from xscale import data
from xscale.data import real
from xscale.errors import UserError
from xscale.spec import load_spec, parse_spec

from .conftest import LOCAL_SPEC, REPO, XLMR_SPEC

pytestmark = pytest.mark.realdata


def test_both_specs_validate():
    done = subprocess.run([sys.executable, "-m", "xscale.cli", "validate", str(XLMR_SPEC), str(LOCAL_SPEC)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok (") == 2


def test_specs_describe_the_intended_sweeps():
    xlmr, local = load_spec(XLMR_SPEC), load_spec(LOCAL_SPEC)
    assert xlmr.benchmark.kind == "hub" and xlmr.grid_axes()["model.size"] == ("base", "large")
    assert set(xlmr.target.tasks) == {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba"}
    assert len(xlmr.grid_axes()["intermediate.task"]) == 10 and "none" in xlmr.grid_axes()["intermediate.task"]
    assert xlmr.resources.gpus_per_trial == 1
    lo, hi = xlmr.optim.lr.loguniform
    assert 5e-6 <= lo < hi <= 5e-5
    assert local.benchmark.kind == "local" and local.model.size == "xs"
    assert local.grid_axes()["intermediate.task"][0] == "mnli"
    assert set(local.target.tasks) == set(xlmr.target.tasks)


def test_relative_benchmark_path_resolves_against_the_spec_folder(tmp_path):
    spec = data.resolve_spec(load_spec(LOCAL_SPEC), LOCAL_SPEC)
    assert spec.benchmark.path == str((REPO / "search_spaces" / "../../shared/realdata").resolve())
    (tmp_path / "specs").mkdir()
    (tmp_path / "data").mkdir()
    moved = data.resolve_spec(load_spec(LOCAL_SPEC), tmp_path / "specs" / "x.yaml")
    assert moved.benchmark.path == str((tmp_path / "specs" / "../../shared/realdata").resolve())
    absolute = parse_spec({"benchmark": {"kind": "local", "path": str(tmp_path / "data")}, "model": {"size": "xs"},
                           "target": {"tasks": ["xnli"]}})
    assert data.resolve_spec(absolute, tmp_path / "specs" / "x.yaml") is absolute
    # A model.hub_id naming a folder beside the spec is a local model; a Hub id stays as it is.
    (tmp_path / "specs" / "models" / "xlmr").mkdir(parents=True)
    local_model = parse_spec({"benchmark": {"kind": "local", "path": str(tmp_path / "data")},
                              "model": {"hub_id": "models/xlmr"}, "target": {"tasks": ["xnli"]}})
    resolved = data.resolve_spec(local_model, tmp_path / "specs" / "x.yaml")
    assert resolved.model.hub_id == str(tmp_path / "specs" / "models" / "xlmr")
    hub_model = local_model.model_copy(update={"model": local_model.model.model_copy(update={"hub_id": "org/model"})})
    assert data.resolve_spec(hub_model, tmp_path / "specs" / "x.yaml").model.hub_id == "org/model"


def test_missing_local_folder_is_a_user_error(tmp_path):
    spec = parse_spec({"benchmark": {"kind": "local", "path": "nowhere"}, "model": {"size": "xs"},
                       "target": {"tasks": ["xnli"]}})
    with pytest.raises(UserError, match=r"benchmark.path: .*nowhere is not a folder \(relative paths are relative "
                                        r"to the spec file's folder\)"):
        data.prepare_spec(spec, tmp_path / "spec.yaml", tmp_path / "cache")


def test_a_task_without_local_data_is_a_user_error(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "dev-de.tsv").write_text("a\tb\tneutral\n")
    spec = parse_spec({"benchmark": {"kind": "local", "path": str(tmp_path)}, "model": {"size": "xs"},
                       "intermediate": {"task": "none"}, "target": {"tasks": ["xnli"]}})
    with pytest.raises(UserError, match=r"xnli: no English training data in .* \(looked for the train or dev "
                                        r"files of mnli and xnli\)"):
        data.make(spec, tmp_path / "cache")


def test_mixing_scratch_and_pretrained_sizes_on_real_data_is_a_user_error():
    spec = parse_spec({"benchmark": {"kind": "local", "path": "x"}, "model": {"size": {"grid": ["xs", "base"]}},
                       "target": {"tasks": ["xnli"]}})
    with pytest.raises(UserError, match=r"model.size: .*mixes from-scratch sizes with pretrained XLM-R"):
        real.tokenizer_source(spec)
