"""CellSearch, the Optuna searcher of `xscale sweep`: budgets per cell, and no trial started only to wait
on another trial's pretraining while some other cell could run."""

from ray.tune.search import Searcher

from xscale.spec import parse_spec
from xscale.sweep.search import CellSearch


def _search(**extra) -> CellSearch:
    spec = parse_spec({"model": {"size": {"grid": ["xs", "s", "m"]}},
                       "pretrain": {"checkpoint_fraction": {"grid": [0.3, 1.0]}},
                       "optim": {"lr": {"loguniform": [1e-4, 1e-3]}},
                       "search": {"algorithm": "optuna", "seed": 0, **extra}}, name="t")
    return CellSearch(spec, "dev/score", "max")


# What a trial reports after its pretraining stage (`trial_main`'s first report).
PRETRAINED = {"stage": "pretrain", "stage_index": 1, "training_iteration": 1, "dev/score": 0.0}


def _size(config: dict) -> str:
    return config["model.size"]


def test_every_cell_gets_its_budget_then_the_search_finishes():
    search = _search(trials_per_cell=2)
    configs = [search.suggest(f"t{n}") for n in range(12)]
    cells = [(c["model.size"], c["pretrain.checkpoint_fraction"]) for c in configs]
    assert len(set(cells)) == 6
    assert all(cells.count(c) == 2 for c in set(cells))
    assert all(1e-4 <= c["optim.lr"] <= 1e-3 for c in configs)
    assert search.suggest("t12") == Searcher.FINISHED


def test_a_cell_whose_pretraining_is_running_waits_while_others_can_start():
    search = _search(trials_per_cell=1)
    # Two slots: xs and s pretrain side by side (size varies fastest).
    assert [_size(search.suggest("a")), _size(search.suggest("b"))] == ["xs", "s"]
    search.on_trial_result("a", PRETRAINED)
    search.on_trial_complete("a", {"dev/score": 0.5})
    assert _size(search.suggest("c")) == "m"  # c pretrains m
    search.on_trial_result("b", PRETRAINED)
    search.on_trial_complete("b", {"dev/score": 0.5})
    # In turn comes xs at the next checkpoint fraction, then s: both pretrained, cache hits.
    assert _size(search.suggest("d")) == "xs"
    search.on_trial_complete("d", {"dev/score": 0.5})
    assert _size(search.suggest("e")) == "s"
    search.on_trial_complete("e", {"dev/score": 0.5})
    # m's turn, but c is still pretraining m and nothing else is left: it starts anyway.
    assert _size(search.suggest("f")) == "m"
    assert search.suggest("g") == Searcher.FINISHED


def test_the_wait_skips_to_a_ready_cell_and_keeps_the_skipped_cell_first_in_line():
    search = _search(trials_per_cell=2)
    assert [_size(search.suggest(t)) for t in "abc"] == ["xs", "s", "m"]
    for t in "ab":
        search.on_trial_result(t, PRETRAINED)
        search.on_trial_complete(t, {"dev/score": 0.5})
    # Next in turn: xs, s, then m (still pretraining in c): xs and s go first, then the round after.
    sizes = [_size(search.suggest(t)) for t in "defg"]
    assert sizes == ["xs", "s", "xs", "s"]
    search.on_trial_result("c", PRETRAINED)
    assert _size(search.suggest("h")) == "m"  # m is pretrained now: the skipped cell is first in line


def test_a_trial_that_fails_before_pretraining_leaves_the_pretraining_to_the_next():
    search = _search(trials_per_cell=1)
    search.suggest("a")  # xs
    search.on_trial_complete("a", None, error=True)
    assert _size(search.suggest("b")) == "s"
    assert _size(search.suggest("c")) == "m"
    assert _size(search.suggest("d")) == "xs"  # nobody holds xs's pretraining: no reason to wait


def test_a_search_saved_by_the_earlier_counting_searcher_resumes(tmp_path):
    import pickle

    old = _search(trials_per_cell=2)
    state = {k: v for k, v in old.__dict__.items() if k not in ("queue", "pretraining", "pretrained")}
    state.update(issued=[2, 2, 1, 1, 1, 0], next_cell=4)  # cells 0-4 had a first trial, 0 and 1 a second
    with open(tmp_path / "searcher.pkl", "wb") as f:
        pickle.dump(state, f)
    search = _search(trials_per_cell=2)
    search.restore(str(tmp_path / "searcher.pkl"))
    assert search.queue == [5, 2, 3, 4, 5]
    assert len([search.suggest(f"t{n}") for n in range(5)]) == 5
    assert search.suggest("t5") == Searcher.FINISHED
