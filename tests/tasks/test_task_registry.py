"""The task registry: closed, consistent entries, the zero-shot wiring and the printed table."""

import dataclasses

import pytest

from xscale.errors import UserError
from xscale.tasks.registry import (
    FORMATS,
    LANGUAGE_NAMES,
    ROLES,
    TASKS,
    TATOEBA_CODES,
    format_task_table,
    get_task,
    task_table,
)

INTERMEDIATE = {
    "anli", "mnli", "qqp", "squad", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa", "sst2",
}
TARGET = {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba"}
SYNTHETIC = {
    "mnli", "qqp", "sst2", "squad", "squad_v2", "hellaswag", "ccg",
    "xnli", "pawsx", "udpos", "panx", "xquad", "tatoeba", "bucc",
}
KNOWN_METRICS = {"accuracy", "f1", "exact_match", "precision", "recall"}


def test_registry_holds_exactly_the_nineteen_tasks():
    assert set(TASKS) == INTERMEDIATE | TARGET
    assert {n for n, t in TASKS.items() if t.role == "intermediate"} == INTERMEDIATE
    assert {n for n, t in TASKS.items() if t.role == "target"} == TARGET


@pytest.mark.parametrize("name", sorted(TASKS))
def test_entry_is_consistent(name):
    task = TASKS[name]
    assert task.name == name
    assert task.role in ROLES
    assert task.format in FORMATS
    assert task.metric in task.metrics
    assert set(task.metrics) <= KNOWN_METRICS
    assert task.languages and all(lang in LANGUAGE_NAMES for lang in task.languages)
    assert len(set(task.languages)) == len(task.languages)
    assert task.hub_id is not None or task.local_reader is not None
    assert task.license_note
    assert task.synthetic == (name in SYNTHETIC)
    if task.format in ("span_qa", "retrieval"):
        assert task.labels == ()
    if task.format == "span_qa":
        assert task.metrics == ("f1", "exact_match")
    if task.role == "intermediate":
        assert task.languages == ("en",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.metric = "other"


def test_zero_shot_wiring():
    assert get_task("xnli").train_task == "mnli"
    assert get_task("xquad").train_task == "squad"
    assert get_task("mlqa").train_task == "squad"
    for own in ("tydiqa", "pawsx", "udpos", "panx"):
        assert get_task(own).train_task == own
    assert get_task("bucc").train_task is None
    assert get_task("tatoeba").train_task is None
    for name in INTERMEDIATE:
        assert get_task(name).train_task == name
    for task in TASKS.values():
        assert task.train_task is None or task.train_task in TASKS


def test_language_counts_follow_xtreme():
    counts = {name: len(TASKS[name].languages) for name in TARGET}
    assert counts == {
        "xnli": 15, "pawsx": 7, "udpos": 33, "panx": 40, "xquad": 11,
        "mlqa": 7, "tydiqa": 9, "bucc": 4, "tatoeba": 36,
    }
    assert set(TASKS["tatoeba"].languages) == set(TATOEBA_CODES)
    assert set(TASKS["bucc"].languages) == {"de", "fr", "ru", "zh"}


def test_hub_config_formatting():
    assert get_task("panx").hub_config_for("de") == "PAN-X.de"
    assert get_task("udpos").hub_config_for("de") == "udpos.German"
    assert get_task("tatoeba").hub_config_for("zh") == "tatoeba.cmn"
    assert get_task("mlqa").hub_config_for("es") == "mlqa.es.es"
    assert get_task("squad").hub_config_for("en") is None


def test_ccg_is_local_only_with_a_licence_message():
    ccg = get_task("ccg")
    assert ccg.hub_id is None and ccg.local_reader == "read_ccg_tsv"
    assert "LDC" in ccg.license_note and "local path" in ccg.license_note


def test_unknown_task_lists_allowed_names():
    with pytest.raises(UserError) as err:
        get_task("glue")
    message = str(err.value)
    assert "'glue'" in message and "xnli" in message and "commonsenseqa" in message
    assert "\n" not in message


def test_task_table_lists_all_tasks():
    rows = task_table()
    assert [r["name"] for r in rows] == list(TASKS)
    assert set(rows[0]) >= {"name", "role", "format", "languages", "metric", "sources"}
    text = format_task_table()
    lines = text.splitlines()
    assert len(lines) == 1 + 19
    for name in TASKS:
        assert any(line.split()[0] == name for line in lines[1:])
    assert "40: " in text and "local:read_ccg_tsv" in text and "google/xtreme" in text
