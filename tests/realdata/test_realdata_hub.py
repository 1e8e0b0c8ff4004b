"""The Hub benchmark (xtreme_xlmr.yaml) fails fast and clearly without the Hub: offline mode or no
route gives one UserError line naming the dataset and the local alternative, within seconds."""

import json
import os
import subprocess
import sys
import time

import datasets
import pytest

from xscale import data
from xscale.errors import UserError
from xscale.spec import load_spec
from xscale.data import hub

from .conftest import REPO, XLMR_SPEC

pytestmark = pytest.mark.realdata

OFFLINE_SCRIPT = """
import json, sys, time
from pathlib import Path
from xscale import data
from xscale.data import tokenizer
from xscale.errors import UserError
from xscale.spec import load_spec
spec = data.resolve_spec(load_spec(sys.argv[1]), sys.argv[1])
spec = spec.model_copy(update={"benchmark": spec.benchmark.model_copy(update={"path": sys.argv[2]})})
out = {}
for what, call in (("benchmark", lambda: data.make(spec, Path(sys.argv[3]))),
                   ("prepare", lambda: data.prepare_spec(spec, sys.argv[1], Path(sys.argv[3]))),
                   ("tokenizer", lambda: tokenizer.load_pretrained_tokenizer("FacebookAI/xlm-roberta-base"))):
    start = time.monotonic()
    try:
        call()
        out[what] = {"error": None}
    except UserError as err:
        out[what] = {"error": str(err)}
    out[what]["seconds"] = time.monotonic() - start
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def offline(realdata, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("offline")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp / "hf"))
    env.pop("HF_DATASETS_CACHE", None)
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT, str(XLMR_SPEC), str(realdata), str(tmp / "cache")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_offline_hub_benchmark_fails_fast_listing_every_dataset_and_model(offline):
    for what in ("benchmark", "prepare"):
        outcome = offline[what]
        assert outcome["seconds"] < 5.0, outcome
        lines = outcome["error"].splitlines()
        hub = [line for line in lines if "cannot load Hub dataset" in line]
        assert all("point at local files instead" in line for line in hub)
        # Every Hub task the sweep reads is named (SQuAD trains XQuAD and MLQA; CCG, which needs a
        # licensed copy, is missing locally).
        assert {line.split(":")[0] for line in hub} == {
            "anli", "mnli", "qqp", "sst2", "squad", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa",
            "xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba"}
        assert any(line.startswith("ccg: no English training data") for line in lines)
    models = [line for line in offline["prepare"]["error"].splitlines() if line.startswith("model ")]
    assert [line.split(":")[0] for line in models] == ["model FacebookAI/xlm-roberta-base",
                                                       "model FacebookAI/xlm-roberta-large"]


def test_offline_pretrained_tokenizer_fails_fast_naming_the_model(offline):
    outcome = offline["tokenizer"]
    assert outcome["seconds"] < 15.0, outcome
    message = outcome["error"]
    assert message.startswith("model FacebookAI/xlm-roberta-base: cannot load its tokenizer")
    assert "model.hub_id" in message and "\n" not in message


def test_offline_set_after_import_fails_before_any_download(realdata, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_libraries_offline", lambda: False)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("network attempted"))
    spec = data.resolve_spec(load_spec(XLMR_SPEC), XLMR_SPEC)
    spec = spec.model_copy(update={"benchmark": spec.benchmark.model_copy(update={"path": str(realdata)})})
    start = time.monotonic()
    with pytest.raises(UserError, match=r"cannot load Hub dataset .*offline mode is set \(HF_HUB_OFFLINE\)"):
        data.make(spec, tmp_path)
    assert time.monotonic() - start < 1.0


def test_unreachable_hub_is_a_user_error(realdata, tmp_path, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", *hub._PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "_libraries_offline", lambda: False)
    monkeypatch.setattr(hub, "_hub_reachable", lambda endpoint, timeout_s=3.0: False)
    spec = data.resolve_spec(load_spec(XLMR_SPEC), XLMR_SPEC)
    spec = spec.model_copy(update={"benchmark": spec.benchmark.model_copy(update={"path": str(realdata)})})
    with pytest.raises(UserError, match=r"is unreachable"):
        data.make(spec, tmp_path)


def test_sweep_cli_exits_2_offline(realdata, tmp_path):
    spec_file = tmp_path / "xtreme_xlmr.yaml"
    text = XLMR_SPEC.read_text().replace("path: ../../shared/realdata", f"path: {realdata}")
    spec_file.write_text(text.replace("gpus_per_trial: 1", "gpus_per_trial: 0"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "xscale.cli", "sweep", str(spec_file), "--out", str(tmp_path / "out"),
                           "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                           "--cache-dir", str(tmp_path / "cache")],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert time.monotonic() - start < 30
    assert "error: " in done.stderr and "cannot load Hub dataset" in done.stderr
    assert "Traceback" not in done.stderr
