"""Translated intermediate data (translate-train) from local files: `<task folder>/translated/<lang>/`
beside the English files, read by the task's own reader."""

import csv

import pytest

from xscale import data
from xscale.errors import UserError
from xscale.tasks.registry import get_task

from .conftest import local_spec

pytestmark = pytest.mark.realdata


def _data_root(realdata, tmp_path):
    """The real slices, plus a German 'translation' of the MNLI train file at
    intermediate/mnli/translated/de/train.tsv: XNLI's German dev rows written in GLUE's MNLI format
    (real German text in the real file format)."""
    root = tmp_path / "data"
    mnli = root / "intermediate" / "mnli"
    mnli.mkdir(parents=True)
    for child in realdata.iterdir():
        if child.name != "intermediate":
            (root / child.name).symlink_to(child)
    for child in (realdata / "intermediate").iterdir():
        if child.name != "mnli":
            (root / "intermediate" / child.name).symlink_to(child)
    for f in (realdata / "intermediate" / "mnli").iterdir():
        (mnli / f.name).symlink_to(f)
    with open(realdata / "intermediate" / "mnli" / "train.tsv", newline="") as f:
        header = next(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    with open(realdata / "xnli" / "dev-de.tsv", newline="") as f:
        german = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:48]
    (mnli / "translated" / "de").mkdir(parents=True)
    with open(mnli / "translated" / "de" / "train.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        w.writerow(header)
        for i, (premise, hypothesis, label) in enumerate(german):
            row = dict.fromkeys(header, "")
            row.update(index=str(i), promptID=str(i), pairID=f"{i}e", genre="xnli", sentence1=premise,
                       sentence2=hypothesis, label1=label, gold_label=label)
            w.writerow([row[h] for h in header])
    return root, german


def _translated_spec(root):
    spec = local_spec(root)
    return spec.model_copy(update={"intermediate": spec.intermediate.model_copy(update={"task": "mnli", "translated": True})})


def test_translated_mnli_rows_follow_the_english_ones(realdata, tmp_path):
    root, german = _data_root(realdata, tmp_path)
    bench = data.make(_translated_spec(root), tmp_path / "cache")
    task = get_task("mnli")
    english, both = bench.train(task), bench.train(task, translated=True)
    assert len(both) == len(english) + len(german)
    assert list(both["premise"][: len(english)]) == list(english["premise"])
    assert list(both["premise"][len(english):]) == [premise for premise, _, _ in german]
    assert both["label"][len(english):] == both.features["label"].str2int([label for _, _, label in german])


def test_missing_translations_fail_before_any_trial(realdata, tmp_path):
    with pytest.raises(UserError, match=r"intermediate.translated: no translated mnli training data in .*mnli/translated/<lang>/"):
        data.make(_translated_spec(realdata), tmp_path / "cache")
