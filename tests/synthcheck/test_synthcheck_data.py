"""`xscale synth check`: shortcut baselines stay near chance and labels are balanced."""

import numpy as np
import pytest

from xscale.synthcheck.data import (CHECKS, SHORTCUT_MARGIN, balance_checks, designed_anchors, logreg_accuracy,
                                    shortcut_checks, tagger_accuracies, train_logreg)
from xscale.synthcheck.rows import MEAN_SEED, CheckRow, format_table
from xscale.synthcheck.runner import check_main, run_checks


def test_logreg_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    w, b = train_logreg(x, y, 2, steps=200)
    assert ((x @ w + b).argmax(1) == y).mean() > 0.95


def test_bow_classifier_finds_a_word_shortcut_when_there_is_one():
    train = {"text": ["good movie", "bad movie", "good film", "bad film"] * 20, "label": [1, 0, 1, 0] * 20}
    tests = {"same": {"text": ["good one", "bad one"], "label": [1, 0]},
             "foreign": {"text": ["bueno uno", "malo uno"], "label": [1, 0]}}
    acc = logreg_accuracy(train, tests, ("text",), "bow")
    assert acc["same"] == 100.0 and acc["foreign"] == 50.0


def test_lexical_tagger_beyond_anchors():
    train = {"tokens": [["the", "dog", ".", "Ana"]] * 3, "tags": [[0, 1, 2, 3]] * 3}
    test = {"tokens": [["le", "dog", ".", "Ana"]], "tags": [[0, 1, 2, 3]]}
    acc = tagger_accuracies(train, test, "tags", anchors={".", "Ana"})
    assert acc["anchor"] == 75.0 and acc["lexical"] == 100.0  # "dog": shared, but not by design
    acc = tagger_accuracies(train, test, "tags", anchors={".", "Ana", "dog"})  # a designed loanword
    assert acc["anchor"] == acc["lexical"] == 100.0


def test_designed_anchors_are_punctuation_digits_shared_names_and_near_loanwords(tiny_bench):
    anchors = designed_anchors(tiny_bench)
    assert set(anchors) == {"clone", "near", "vso", "sov", "inv"}
    assert anchors["inv"] == frozenset()  # its own script
    assert {".", "?", ","} <= anchors["clone"] and any(f[0].isupper() for f in anchors["clone"])
    for lang in ("clone", "vso", "sov"):
        assert anchors[lang] == anchors["clone"]  # the same shared names, no loanwords
        assert all(not f.isalpha() or f[0].isupper() for f in anchors[lang])
    loans = anchors["near"] - anchors["clone"]
    assert loans and all(f.isalpha() and f.islower() for f in loans)


def test_only_designed_anchors_help_a_lexical_tagger(tiny_bench):
    """Every spelling shared with English is a designed anchor: no language leaks words by accident."""
    for row in shortcut_checks(tiny_bench, 0):
        if "lexical-over-anchor" in row.check:
            assert row.measured == pytest.approx(row.threshold - SHORTCUT_MARGIN), row


def test_balance_checks_hold_on_tiny(tiny_bench):
    rows = balance_checks(tiny_bench, 0)
    assert rows and all(isinstance(r, CheckRow) for r in rows)
    assert [r.check for r in rows if not r.ok] == []


def test_shortcut_checks_cover_every_target_and_language(tiny_bench):
    rows = shortcut_checks(tiny_bench, 0)
    names = {r.check for r in rows}
    for lang in ("clone", "near", "vso", "sov", "inv"):
        for task in ("xnli/bow", "xnli/length", "pawsx/bow", "pawsx/length", "udpos/lexical-over-anchor",
                     "panx/lexical-over-anchor", "xquad/position-f1"):
            assert f"shortcut/{task}/{lang}" in names
    assert "shortcut/xnli/bow-hypothesis/en" in names
    # Tiny test sets are small (100 rows): allow sampling noise here; the slow test uses `small`.
    assert all(r.measured <= r.threshold + 10 for r in rows)


def test_format_table_marks_failures():
    table = format_table([CheckRow("a/b", 0, 1.0, 2.0, True), CheckRow("c", 1, 3.0, 2.0, False)])
    lines = table.splitlines()
    assert lines[0].split() == ["check", "seed", "measured", "threshold", "ok"]
    assert lines[1].endswith("yes") and lines[2].endswith("NO")


def test_seeds_checked_side_by_side_give_the_same_rows_in_seed_order(tmp_path):
    serial = run_checks(tmp_path, "tiny", (1, 0), checks={"balance": balance_checks})
    parallel = run_checks(tmp_path, "tiny", (1, 0), checks={"balance": balance_checks}, jobs=2)
    assert parallel == serial and [r.seed for r in parallel][0] == 1 and {r.seed for r in parallel} == {0, 1}


def test_each_seed_reports_progress_on_stderr(tmp_path, capsys):
    """The model checks run for an hour or more: each seed says what it is doing, and the table alone
    goes to stdout."""
    run_checks(tmp_path, "tiny", (0,), checks={"balance": balance_checks})
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "synth check, seed 0: balance checks ..."
    assert lines[-1].startswith("synth check, seed 0: done in ") and captured.out == ""


@pytest.mark.slow
def test_check_holds_on_small_over_three_seeds(tmp_path, capsys):
    # 1000 test rows per language (as in `default`) keep sampling noise well under the 5-point margin.
    assert check_main(tmp_path, seeds=(0, 1, 2), preset="small", models=False, test_size=1000) == 0
    out = capsys.readouterr().out
    assert "checks hold over seeds 0, 1, 2" in out
    assert set(CHECKS) == {"shortcut", "balance"}


def test_graded_rows_are_checked_on_the_mean_over_seeds(tmp_path):
    """One seed's graded difference is reported; the order is checked on the mean over the seeds."""
    from xscale.synthcheck.transfer import GRADED_ORDER, _graded_name

    diffs = {0: 3.0, 1: -1.0, 2: 1.0}  # clone - near; every other pair gets the negated values

    def fake_model_checks(bench, seed):
        return [CheckRow(_graded_name(hi, lo, per_seed=True), seed, diffs[seed] * (1 if hi == "clone" else -1),
                         0.0, True) for hi, lo in GRADED_ORDER]

    rows = run_checks(tmp_path, "tiny", (0, 1, 2), checks={"model": fake_model_checks})
    means = {r.check: r for r in rows if r.seed == MEAN_SEED}
    assert len(rows) == 4 * len(GRADED_ORDER) and len(means) == len(GRADED_ORDER)
    assert rows[-len(GRADED_ORDER):] == list(means.values())  # after every seed's rows
    clone_near = means["graded/clone>=near (mean over seeds)"]
    assert clone_near.measured == pytest.approx(1.0) and clone_near.ok
    sov_inv = means["graded/sov>=inv (mean over seeds)"]
    assert sov_inv.measured == pytest.approx(-1.0) and not sov_inv.ok
    assert all(r.ok for r in rows if r.seed != MEAN_SEED)  # per-seed rows are reported, not checked
    assert " mean " in format_table(rows).splitlines()[-1]
