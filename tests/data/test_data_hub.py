"""Hub loading: fails fast with a clear UserError offline, and Hub rows are cast to the task schema."""

import json
import os
import subprocess
import sys
import time

import datasets
import pytest

from xscale.errors import UserError
from xscale.data import hub
from xscale.data.hub import load_hub
from xscale.tasks.readers import FEATURES

OFFLINE_SCRIPT = """
import json, time
from xscale.errors import UserError
from xscale.data.hub import load_hub
start = time.monotonic()
try:
    load_hub("xnli", "de", "validation")
    outcome = {"error": None}
except UserError as err:
    outcome = {"error": str(err)}
outcome["seconds"] = time.monotonic() - start
print(json.dumps(outcome))
"""


def test_offline_hub_load_fails_fast_in_a_fresh_process(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    env.pop("HF_DATASETS_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["seconds"] < 5.0
    message = outcome["error"]
    assert message is not None and "\n" not in message
    assert "facebook/xnli" in message and "local files" in message and "xnli/" in message
    assert "Traceback" not in done.stderr


def test_offline_set_after_import_fails_without_touching_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_libraries_offline", lambda: False)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("network attempted"))
    start = time.monotonic()
    with pytest.raises(UserError, match=r"google/xtreme \(config PAN-X\.de\).*offline mode"):
        load_hub("panx", "de", "validation")
    assert time.monotonic() - start < 1.0


def test_unreachable_hub_is_a_user_error(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", *hub._PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "_libraries_offline", lambda: False)
    monkeypatch.setattr(hub, "_hub_reachable", lambda endpoint, timeout_s=3.0: False)
    with pytest.raises(UserError, match="unreachable.*HF_HUB_OFFLINE=1.*local files"):
        load_hub("udpos", "de", "test")


def test_reachability_probe_is_bounded():
    start = time.monotonic()
    assert hub._hub_reachable("http://127.0.0.1:9", timeout_s=1.0) is False
    assert hub._hub_reachable("https://hub.invalid", timeout_s=1.0) is False
    assert time.monotonic() - start < 4.0


def test_local_only_tasks_say_so():
    with pytest.raises(UserError, match="LDC"):
        load_hub("ccg", "en", "train")
    with pytest.raises(UserError, match="distractor"):
        load_hub("bucc", "zh", "validation")
    with pytest.raises(UserError, match="unknown language"):
        load_hub("xnli", "ja", "validation")


def test_hub_rows_are_cast_to_the_task_schema():
    # google/xquad has no title; facebook/anli carries `reason`; int64 offsets become int32.
    xquad = datasets.Dataset.from_dict(
        {
            "id": ["q"],
            "context": ["Denver won."],
            "question": ["Who won?"],
            "answers": [{"text": ["Denver"], "answer_start": [0]}],
        }
    )
    conformed = hub._conform(xquad, "xquad")
    assert conformed.features == FEATURES["xquad"]
    assert conformed[0]["title"] == ""
    anli = datasets.Dataset.from_dict(
        {"uid": ["u"], "premise": ["p"], "hypothesis": ["h"], "label": [2], "reason": ["r"]},
        features=datasets.Features(
            {
                "uid": datasets.Value("string"),
                "premise": datasets.Value("string"),
                "hypothesis": datasets.Value("string"),
                "label": FEATURES["anli"]["label"],
                "reason": datasets.Value("string"),
            }
        ),
    )
    assert hub._conform(anli, "anli").features == FEATURES["anli"]


def _offline_after_import(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_libraries_offline", lambda: False)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("network attempted"))


def test_preflight_lists_every_missing_dataset_with_its_local_layout(monkeypatch):
    _offline_after_import(monkeypatch)
    parts = [("xnli", "de", "test"), ("xnli", "zh", "test"), ("mnli", "en", "train"), ("bucc", "de", "test")]
    lines = hub.HubDatasets(None).missing(parts)
    assert lines == [
        ("mnli: cannot load Hub dataset nyu-mll/glue (config mnli), train split: offline mode is set (HF_HUB_OFFLINE) "
         "and it is not cached; point at local files instead (load_local, or benchmark.kind: local with a "
         "benchmark.path laid out like ../shared/realdata, holding intermediate/mnli/train.tsv)"),
        ("xnli: cannot load Hub dataset facebook/xnli (config {lang}), test split for de, zh: offline mode is set "
         "(HF_HUB_OFFLINE) and it is not cached; point at local files instead (load_local, or benchmark.kind: local "
         "with a benchmark.path laid out like ../shared/realdata, holding xnli/test-{lang}.tsv)"),
    ]  # BUCC has no Hub source: it is checked among the local files


def test_preflight_offline_from_the_start_tries_every_dataset_and_keeps_the_cached_ones(monkeypatch):
    monkeypatch.setattr(hub, "_libraries_offline", lambda: True)
    tried = []

    def load_dataset(hub_id, config=None, split=None):
        tried.append((hub_id, config, split))
        if config == "de":
            return datasets.Dataset.from_dict({"premise": ["p"], "hypothesis": ["h"], "label": [0]},
                                              features=FEATURES["xnli"])
        raise ConnectionError(f"Couldn't reach '{hub_id}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    lines = hub.HubDatasets(None).missing([("xnli", "de", "test"), ("xnli", "fr", "test"), ("xnli", "zh", "test")])
    assert tried == [("facebook/xnli", lang, "test") for lang in ("de", "fr", "zh")]
    (line,) = lines
    assert line.startswith("xnli: cannot load Hub dataset facebook/xnli (config {lang}), test split for fr, zh: "
                           "ConnectionError: Couldn't reach 'facebook/xnli'")


def test_preflight_with_the_hub_reachable_checks_nothing(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", *hub._PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "_libraries_offline", lambda: False)
    monkeypatch.setattr(hub, "_hub_reachable", lambda endpoint, timeout_s=3.0: True)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("downloads belong to the trials"))
    assert hub.HubDatasets(None).missing([("xnli", "de", "test")]) == []


def test_model_preflight(monkeypatch, tmp_path):
    import huggingface_hub

    _offline_after_import(monkeypatch)
    cached = {("org/cached", "config.json"), ("org/cached", "model.safetensors")}
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, name, **_: f"/cache/{name}" if (repo, name) in cached else None)
    empty, model = tmp_path / "empty", tmp_path / "model"
    for folder in (empty, model):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    sources = {"org/cached": "model.hub_id", "org/missing": "pretrain.checkpoints.0.5", str(empty): "model.hub_id",
               str(model): "pretrain.checkpoints.0.3"}
    assert hub.missing_models(sources) == [
        (f"model.hub_id: {empty} is a folder without a model (allowed: config.json and model.safetensors or "
         "model.safetensors.index.json or pytorch_model.bin or pytorch_model.bin.index.json)"),
        ("model org/missing: cannot load it (offline mode is set (HF_HUB_OFFLINE) and it is not cached); download "
         "the model where the Hub is reachable (e.g. `hf download org/missing --local-dir DIR`) and set "
         "pretrain.checkpoints.0.5: DIR (a local folder with config.json, the tokenizer files and the weights)"),
    ]


def test_prepare_spec_lists_missing_datasets_and_models_in_one_message(monkeypatch, tmp_path):
    import huggingface_hub

    from xscale import data
    from xscale.spec import parse_spec

    _offline_after_import(monkeypatch)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    spec = parse_spec({"benchmark": {"kind": "hub"}, "model": {"size": {"grid": ["base", "large"]}},
                       "intermediate": {"task": "sst2"}, "target": {"tasks": ["xnli", "bucc"]},
                       "probes": {"after": []}})
    with pytest.raises(UserError) as err:
        data.prepare_spec(spec, tmp_path / "spec.yaml", tmp_path / "cache")
    lines = str(err.value).splitlines()
    assert [line.split(" ")[0] for line in lines] == [
        "bucc:", "mnli:", "mnli:", "sst2:", "sst2:", "xnli:", "model", "model"]
    assert "bucc: no evaluation data in the Hugging Face Hub" in lines[0] and "benchmark.path" in lines[0]
    assert "test split for ar, bg, de, el, en," in lines[5]
    assert lines[6].startswith("model FacebookAI/xlm-roberta-base: cannot load it")
    assert lines[7].startswith("model FacebookAI/xlm-roberta-large: cannot load it")
