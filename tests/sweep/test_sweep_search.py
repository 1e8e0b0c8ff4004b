"""CellSearch, the searcher of `xscale sweep`: budgets per cell, a deterministic key per trial, resumed
searches that skip finished keys, and no trial started only to wait on another trial's pretraining.
"""

from ray.tune.search import Searcher

from xscale.spec import parse_spec
from xscale.sweep.search import TRIAL_KEY, CellSearch, Reconciled


def _search(reconciled=None, lr=None, **extra) -> CellSearch:
    spec = parse_spec({"model": {"size": {"grid": ["xs", "s", "m"]}},
                       "pretrain": {"checkpoint_fraction": {"grid": [0.3, 1.0]}},
                       "optim": {"lr": lr or {"loguniform": [1e-4, 1e-3]}},
                       "search": {"algorithm": "optuna", "seed": 0, **extra}}, name="t")
    return CellSearch(spec, "dev/score", "max", reconciled)


# What a trial reports after its pretraining stage (`trial_main`'s first report).
PRETRAINED = {"stage": "pretrain", "stage_index": 1, "training_iteration": 1, "dev/score": 0.0}


def _start(search: CellSearch, trial_id: str) -> dict:
    """A suggested trial that gets past its pretraining at once, so that the next one never waits."""
    config = search.suggest(trial_id)
    search.on_trial_result(trial_id, PRETRAINED)
    return config


def _size(config: dict) -> str:
    return config["model.size"]


def test_every_cell_gets_its_budget_then_the_search_finishes():
    search = _search(trials_per_cell=2)
    configs = [_start(search, f"t{n}") for n in range(12)]
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
    # m's turn, but c is still pretraining m and nothing else is left: no trial starts only to wait.
    assert search.suggest("f") is None
    search.on_trial_result("c", PRETRAINED)
    assert _size(search.suggest("g")) == "m"
    assert search.suggest("h") == Searcher.FINISHED


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


def _at(config: dict) -> tuple[str, float]:
    return config["model.size"], config["pretrain.checkpoint_fraction"]


def test_a_cell_waits_while_another_trial_computes_its_checkpoint():
    search = _search(trials_per_cell=2)
    for t in "abc":  # xs, s and m at fraction 0.3: the shared runs and their 0.3 branches
        search.suggest(t)
        search.on_trial_result(t, PRETRAINED)
        search.on_trial_complete(t, {"dev/score": 0.5})
    # Each size's run is done, but not its encoder at fraction 1.0 (the cooled-down branch and its probe).
    assert [_at(search.suggest(t)) for t in "def"] == [("xs", 1.0), ("s", 1.0), ("m", 1.0)]
    for t in "ef":
        search.on_trial_result(t, PRETRAINED)
    assert [_at(search.suggest(t)) for t in "ghi"] == [("xs", 0.3), ("s", 0.3), ("m", 0.3)]
    # xs at 1.0 is next in turn, but d is still computing that encoder: s at 1.0 goes first.
    assert _at(search.suggest("j")) == ("s", 1.0)
    search.on_trial_result("d", PRETRAINED)
    assert _at(search.suggest("k")) == ("xs", 1.0)


def test_a_trial_that_fails_before_pretraining_leaves_the_pretraining_to_the_next():
    search = _search(trials_per_cell=1)
    search.suggest("a")  # xs
    search.on_trial_complete("a", None, error=True)
    assert _size(search.suggest("b")) == "s"
    assert _size(search.suggest("c")) == "m"
    assert _size(search.suggest("d")) == "xs"  # nobody holds xs's pretraining: no reason to wait


def test_every_trial_has_a_deterministic_key_and_a_resumed_search_skips_finished_keys():
    search = _search(trials_per_cell=2)
    configs = [_start(search, f"t{n}") for n in range(12)]
    keys = [c[TRIAL_KEY] for c in configs]
    assert len(set(keys)) == 12 and all(k.endswith(("#0", "#1")) for k in keys)
    same = _search(trials_per_cell=2)
    assert keys == [_start(same, f"u{n}")[TRIAL_KEY] for n in range(12)]
    done = {keys[0]: ({"optim.lr": configs[0]["optim.lr"]}, 0.7)}
    redo = {keys[1]: {"optim.lr": configs[1]["optim.lr"]}}
    resumed = _search(trials_per_cell=2, reconciled=Reconciled(done=done, redo=redo))
    again = [_start(resumed, f"r{n}") for n in range(11)]
    assert resumed.suggest("r11") == Searcher.FINISHED
    assert keys[0] not in {c[TRIAL_KEY] for c in again}
    rerun = next(c for c in again if c[TRIAL_KEY] == keys[1])
    assert rerun["optim.lr"] == configs[1]["optim.lr"]  # the same configuration: its stages are cached
    # The finished trial is a completed observation of its cell's study.
    assert len(resumed.studies[0].trials) >= 1 and resumed.studies[0].trials[0].value == 0.7


def test_grid_and_random_searches_go_through_the_same_keyed_searcher():
    grid = _search(trials_per_cell=3, algorithm="grid", lr=1e-3)
    assert len([_start(grid, f"g{n}") for n in range(6)]) == 6 and grid.suggest("g6") == Searcher.FINISHED
    first, second = _search(trials_per_cell=2, algorithm="random"), _search(trials_per_cell=2, algorithm="random")
    draws = [[_start(s, f"t{n}")["optim.lr"] for n in range(4)] for s in (first, second)]
    assert draws[0] == draws[1] and len(set(draws[0])) == 4 and all(1e-4 <= v <= 1e-3 for v in draws[0])
