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
