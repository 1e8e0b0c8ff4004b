"""The real slices as researchers' copies of them come: with a byte-order mark, Windows line ends, in
latin-1, in XTREME's download layout (tokens-only test files), and with languages beyond XTREME's
lists. The slices are read from ../shared/realdata (never copied into the repository); the variants
are written to a temporary folder or linked from it."""

import logging

import pytest

from xscale import data
from xscale.data.local import describe_local, find_local, load_local
from xscale.errors import UserError
from xscale.spec import parse_spec
from xscale.tasks.readers import (
    read_panx_tsv,
    read_udpos_conllu,
    read_udpos_tsv,
    read_xnli_tsv,
)
from xscale.tasks.registry import get_task

pytestmark = pytest.mark.realdata
BOM = "\ufeff".encode()


def test_a_bom_and_windows_line_ends_change_nothing(realdata, tmp_path):
    cases = [(read_udpos_tsv, realdata / "udpos" / "test-zh.tsv"),
             (lambda p: read_panx_tsv(p, "de"), realdata / "panx" / "dev-de.tsv"),
             (read_udpos_conllu, realdata / "udpos" / "de_gsd-ud-test.conllu")]
    for reader, original in cases:
        expected = reader(original)
        variant = tmp_path / original.name
        variant.write_bytes(BOM + original.read_bytes().replace(b"\n", b"\r\n"))
        assert reader(variant).to_list() == expected.to_list(), original.name
    # The CoNLL-U file starts with `# sent_id`: behind a BOM it is still a comment.
    assert (realdata / "udpos" / "de_gsd-ud-test.conllu").read_bytes().startswith(b"# sent_id")
    assert read_udpos_conllu(tmp_path / "de_gsd-ud-test.conllu")[0]["tokens"][:3] == ["Der", "Hauptgang", "war"]


def test_a_latin1_copy_names_file_line_and_byte(realdata, tmp_path):
    original = realdata / "xnli" / "dev-de.tsv"
    text = original.read_text(encoding="utf-8")
    lineno = next(i for i, line in enumerate(text.splitlines(), start=1) if any(ord(c) > 127 for c in line))
    copy = tmp_path / "dev-de.tsv"
    copy.write_bytes(text.encode("latin-1", errors="replace"))
    with pytest.raises(UserError) as err:
        read_xnli_tsv(copy)
    assert str(err.value).startswith(f"{copy}:{lineno}: not UTF-8: byte 0x")
    assert "\n" not in str(err.value)


def test_the_slices_hold_languages_beyond_xtremes_lists(realdata):
    # XQuAD's Romanian came after XTREME: its file is there, so it is evaluated (scored apart).
    assert "ro" not in get_task("xquad").languages
    assert "ro" in find_local("xquad", realdata).languages
    assert load_local("xquad", realdata, "ro", "validation").num_rows == 1190
    text = describe_local(realdata)
    assert " ro* " in text
    assert "mlqa/dev-context-de-question-en.json: its name does not fit" in text
    assert "udpos/en_ewt-ud-test.conllu: test-en.tsv read instead" in text


@pytest.fixture
def xtreme_download(realdata, tmp_path):
    """PAN-X and UD-POS as XTREME's download script leaves them: labelled train/dev files (linked from
    the slices) and test files with the tokens only (written from the slices' German dev file)."""
    root = tmp_path / "download"
    for task, names in (("panx", ("train-en.tsv", "dev-en.tsv", "dev-de.tsv")),
                        ("udpos", ("train-en.tsv", "dev-en.tsv", "dev-de.tsv"))):
        (root / task).mkdir(parents=True)
        for name in names:
            (root / task / name).symlink_to(realdata / task / name)
        lines = (realdata / task / "dev-de.tsv").read_text(encoding="utf-8").splitlines()
        (root / task / "test-de.tsv").write_text("".join(line.split("\t")[0] + "\n" for line in lines),
                                                 encoding="utf-8")
    return root


def test_tokens_only_test_files_fall_back_to_dev_once_per_language(xtreme_download, tmp_path, caplog):
    spec = parse_spec({"benchmark": {"kind": "local", "path": str(xtreme_download)}, "model": {"size": "xs"},
                       "intermediate": {"task": "none"}, "target": {"tasks": ["panx", "udpos"]},
                       "probes": {"after": []}})
    with caplog.at_level(logging.WARNING, logger="xscale.data"):
        bench = data.make(spec, tmp_path / "cache")
        for name in ("panx", "udpos"):
            task = get_task(name)
            assert bench.languages(task) == ["de", "en"]
            assert bench.eval_split(task, "de") == "validation"
            assert len(bench.test(task, "de")) == len(load_local(name, xtreme_download, "de", "validation"))
    warned = [r.message for r in caplog.records if "holds tokens only" in r.message]
    assert sorted(warned) == [f"benchmark: {name}: test-de.tsv holds tokens only (XTREME's preprocessing hides the "
                              "test labels); de is evaluated on its validation split instead"
                              for name in ("panx", "udpos")]
