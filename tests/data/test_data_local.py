"""Local files as researchers have them: every language whose files are there, XTREME's tokens-only
test files, what `xscale tasks --local` reports, and the wiring of those into a benchmark."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xscale import data
from xscale.data.local import (
    LocalFiles,
    describe_local,
    find_local,
    has_local,
    load_local,
    passed_over,
)
from xscale.errors import UserError
from xscale.spec import parse_spec
from xscale.tasks.readers import FEATURES
from xscale.tasks.registry import get_task

REPO = Path(__file__).resolve().parents[2]

PANX_EN = "Anton\tB-PER\nliest\tO\n\nBerlin\tB-LOC\n"
PANX_DE = "de:Anton\tB-PER\nde:liest\tO\n\nde:Berlin\tB-LOC\n"


def write(path, text: str, encoding: str = "utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def folder(tmp_path):
    """A realdata-style folder with languages outside XTREME's lists and XTREME's hidden test files."""
    root = tmp_path / "data"
    write(root / "panx" / "train-en.tsv", PANX_EN)
    write(root / "panx" / "dev-en.tsv", PANX_EN)
    write(root / "panx" / "dev-de.tsv", PANX_DE)
    write(root / "panx" / "test-de.tsv", "de:Anton\nde:liest\n\nde:Berlin\n")  # utils_preprocess.py: labels hidden
    write(root / "panx" / "dev-zh-min-nan.tsv", "Tâi-oân\tB-LOC\n")  # WikiANN beyond XTREME's 40
    write(root / "udpos" / "cy_ccg-ud-test.conllu", "# sent_id = 1\n1\tMae\tbod\tAUX\t_\t_\t0\troot\t_\t_\n\n")
    write(root / "xnli" / "dev-yo.tsv", "a\tb\tneutral\n")
    write(root / "tatoeba" / "tatoeba.kab-eng.kab", "Azul\n")  # LASER code the registry does not map
    write(root / "tatoeba" / "tatoeba.kab-eng.eng", "Hello\n")
    write(root / "tatoeba" / "tatoeba.deu-eng.deu", "Hallo\n")
    write(root / "tatoeba" / "tatoeba.deu-eng.eng", "Hello\n")
    write(root / "tatoeba" / "tatoeba.ber-eng.ber", "Azul\n")  # its English side is missing
    write(root / "mlqa" / "dev-context-de-question-en.json", '{"data": []}')  # G-XLT, not read
    return root


def test_languages_are_those_whose_files_are_there(folder):
    assert find_local("panx", folder).splits == {
        "de": ("validation",), "en": ("train", "validation"), "zh-min-nan": ("validation",)}
    assert find_local("udpos", folder).splits == {"cy": ("test",)}
    assert find_local("xnli", folder).splits == {"yo": ("validation",)}
    assert find_local("tatoeba", folder).languages == ["de", "kab"]
    assert LocalFiles(folder, folder / "store").languages("tatoeba") == ["de", "kab"]
    assert find_local("mnli", folder).splits == {}


def test_languages_outside_xtremes_lists_load(folder):
    assert "kab" not in get_task("tatoeba").languages and "cy" not in get_task("udpos").languages
    tatoeba = load_local("tatoeba", folder, "kab", "test")
    assert tatoeba.features == FEATURES["tatoeba"]
    assert tatoeba[0] == {"source_sentence": "Azul", "target_sentence": "Hello", "source_lang": "kab",
                          "target_lang": "eng"}
    assert load_local("udpos", folder, "cy", "test")["tokens"] == [["Mae"]]
    assert load_local("panx", folder, "zh-min-nan", "validation")["langs"] == [["zh-min-nan"]]


def test_tokens_only_test_files_are_passed_over(folder):
    assert not has_local("panx", folder, "de", "test")
    assert "test-de.tsv holds tokens only" in passed_over("panx", folder, "de", "test")
    assert passed_over("panx", folder, "de", "validation") is None
    assert passed_over("panx", folder, "fr", "test") is None  # nothing there: nothing passed over
    with pytest.raises(UserError, match=r"panx: test-de\.tsv holds tokens only \(XTREME's preprocessing hides "
                                        r"the test labels\) \(lang=de, split=test\)"):
        load_local("panx", folder, "de", "test")


def test_skipped_files_say_why(folder):
    skipped = {s.path.name: s.why for task in ("panx", "tatoeba", "mlqa") for s in find_local(task, folder).skipped}
    assert skipped["test-de.tsv"].startswith("test-de.tsv holds tokens only")
    assert skipped["tatoeba.ber-eng.ber"].startswith("no tatoeba.ber-eng.eng in")
    assert skipped["dev-context-de-question-en.json"] == "its name does not fit dev-context-{lang}-question-{lang}.json"


def test_an_unreadable_file_is_reported_not_silently_dropped(folder):
    write(folder / "udpos" / "test-fr.tsv", "caf\xe9\tNOUN\n", encoding="latin-1")
    found = find_local("udpos", folder)
    assert "fr" in found.languages and "fr" not in found.splits
    (bad,) = [s for s in found.skipped if s.unreadable]
    assert bad.lang == "fr" and "test-fr.tsv:1: not UTF-8: byte 0xe9" in bad.why
    with pytest.raises(UserError, match="not UTF-8"):
        LocalFiles(folder, folder / "store").has("udpos", "fr", "test")


def test_describe_local_lists_languages_splits_and_skipped_files(folder):
    text = describe_local(folder)
    lines = {line.split()[0]: line for line in text.splitlines()[1:] if line and not line.startswith(" ")}
    assert lines["panx"].endswith("de zh-min-nan*: validation; en: train, validation")
    assert lines["tatoeba"].endswith("de kab*: validation, test")
    assert "nothing found" in lines["ccg"]
    assert "panx/test-de.tsv: test-de.tsv holds tokens only" in text
    assert "mlqa/dev-context-de-question-en.json: its name does not fit" in text


def test_tasks_local_cli(folder):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "xscale.cli", "tasks", "--local", str(folder)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "zh-min-nan*" in done.stdout and "skipped:" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "xscale.cli", "tasks", "--local", str(folder / "nowhere")],
                             capture_output=True, text=True, timeout=120, env=env, check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == f"error: --local: {folder / 'nowhere'} is not a folder (allowed: a folder " \
                                     "laid out like ../shared/realdata)"


def _bench(folder, tmp_path, **benchmark):
    spec = parse_spec({"benchmark": {"kind": "local", "path": str(folder), **benchmark}, "model": {"size": "xs"},
                       "intermediate": {"task": "none"}, "target": {"tasks": ["panx", "tatoeba"]}})
    return data.make(spec, tmp_path / "cache")


def test_benchmark_evaluates_every_language_and_records_the_split(folder, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="xscale.data"):
        bench = _bench(folder, tmp_path)
        panx, tatoeba = get_task("panx"), get_task("tatoeba")
        assert bench.languages(panx) == ["de", "en", "zh-min-nan"]
        assert bench.languages(tatoeba) == ["de", "kab"]
        assert bench.eval_split(panx, "de") == "validation"  # the tokens-only test file is passed over
        assert bench.eval_split(tatoeba, "kab") == "test"
        assert bench.test(panx, "de")["tokens"] == [["Anton", "liest"], ["Berlin"]]
        bench.languages(panx)  # asked again: still one warning
    hidden = [r.message for r in caplog.records if "holds tokens only" in r.message]
    assert hidden == [("benchmark: panx: test-de.tsv holds tokens only (XTREME's preprocessing hides the test "
                       "labels); de is evaluated on its validation split instead")]
    assert _bench(folder, tmp_path, languages=["en", "de"]).languages(get_task("panx")) == ["de", "en"]


def test_every_local_problem_is_listed_at_once(folder, tmp_path):
    spec = parse_spec({"benchmark": {"kind": "local", "path": str(folder)}, "model": {"size": "xs"},
                       "intermediate": {"task": {"grid": ["sst2", "qqp"]}}, "target": {"tasks": ["xquad", "panx"]}})
    with pytest.raises(UserError) as err:
        data.make(spec, tmp_path / "cache")
    lines = str(err.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["sst2", "qqp", "xquad"]
    assert all("no English training data" in line for line in lines)
