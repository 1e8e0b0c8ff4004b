"""The plain functions behind `xscale synth`."""

import pytest

from xscale.errors import UserError
from xscale.synth.cli import synth_main

QUICK = {"corpus_tokens": 5_000, "intermediate_train_size": 20, "intermediate_validation_size": 10,
         "target_train_size": 20, "target_validation_size": 10, "test_size": 10, "retrieval_validation_size": 10}


def test_synth_main_prints_a_summary(tiny_bench, capsys):
    assert synth_main(tiny_bench, "tiny", 0) == 0
    out = capsys.readouterr().out
    assert "xnli" in out and "test.sov 100" in out
    assert "corpus:" in out and "vocabulary:" in out and " s" in out


def test_synth_main_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="synth.out"):
        synth_main(tmp_path, "tiny", 0)


def test_synth_main_rejects_an_unknown_preset(tmp_path):
    with pytest.raises(UserError, match="synth.preset"):
        synth_main(tmp_path / "b", "medium", 0)
