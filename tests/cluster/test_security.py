"""Security properties of what a sweep starts, reads and writes.

- Servers: the local Ray of `xscale sweep` runs without the dashboard (no HTTP server at all) and keeps
  Ray's default token authentication (xscale never sets RAY_AUTH_MODE); ray_cluster.yaml binds the
  dashboard and the MLflow server to 127.0.0.1 (test_cluster_config.py).
- Loading: weights are safetensors; nothing in xscale calls torch.load without weights_only=True or
  unpickles anything from the stage cache. The one pickle.load is CellSearch.restore: Tune's searcher
  checkpoint that Tune itself writes into the sweep folder (tune/searcher-state-*.pkl), read back by
  `--resume` only. Tune's own state files there (tuner.pkl, error.pkl) are pickles as well: a sweep
  folder must be as trusted as code (Ray's Tuner.restore documents the same).
- YAML is read with yaml.safe_load only.
- Spec names cannot leave the sweeps folder (`.`/`..` rejected, no `/`).
"""

import ast
from pathlib import Path

import pytest

from xscale.errors import UserError
from xscale.spec import parse_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
PACKAGE = Path(__file__).resolve().parents[2] / "xscale"


class _Calls(ast.NodeVisitor):
    """Every call in a module as (qualified name of the enclosing function, callee text, node)."""

    def __init__(self):
        self.scope: list[str] = []
        self.found: list[tuple[str, str, ast.Call]] = []

    def _nest(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _nest

    def visit_Call(self, node):
        self.found.append((".".join(self.scope), ast.unparse(node.func), node))
        self.generic_visit(node)


def _calls():
    for path in sorted(PACKAGE.rglob("*.py")):
        v = _Calls()
        v.visit(ast.parse(path.read_text(), filename=str(path)))
        for scope, name, node in v.found:
            yield path.relative_to(PACKAGE).as_posix(), scope, name, node


def _kw(call: ast.Call) -> dict[str, str]:
    return {k.arg: ast.unparse(k.value) for k in call.keywords}


def test_local_ray_has_no_dashboard_and_keeps_token_auth(monkeypatch):
    import xscale.sweep.driver as sweep

    calls = []
    monkeypatch.setattr(sweep.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(sweep.ray, "init", lambda **kw: calls.append(kw))
    assert sweep._start_ray(None, 2) is True
    assert sweep._start_ray("127.0.0.1:6379", None) is False
    for kw in calls:
        assert kw["include_dashboard"] is False
        assert kw.get("dashboard_host", "127.0.0.1") == "127.0.0.1"
        assert not kw.get("_node_ip_address") or kw["_node_ip_address"] == "127.0.0.1"
    assert calls[0]["num_cpus"] == 2 and calls[1]["address"] == "127.0.0.1:6379"
    source = "".join(p.read_text() for p in (PACKAGE / "sweep").glob("*.py")) + (PACKAGE / "cli.py").read_text()
    assert "RAY_AUTH_MODE" not in source


def test_no_pickle_loads_outside_the_tune_searcher_checkpoint():
    unpickling = {"pickle.load", "pickle.loads", "cloudpickle.load", "cloudpickle.loads", "dill.load", "joblib.load",
                  "pd.read_pickle", "pandas.read_pickle"}
    found = {(path, scope) for path, scope, name, _ in _calls() if name in unpickling}
    assert found == {("sweep/search.py", "CellSearch.restore")}, found
    for path, scope, name, call in _calls():
        if name.endswith("torch.load"):
            assert _kw(call).get("weights_only") == "True", f"{path}:{scope}: {ast.unparse(call)}"
        if name in ("np.load", "numpy.load"):
            assert _kw(call).get("allow_pickle", "False") == "False", f"{path}:{scope}: {ast.unparse(call)}"


def test_weights_are_written_as_safetensors_only():
    writers = {(path, scope) for path, scope, name, _ in _calls()
               if name in ("torch.save", "pickle.dump", "pickle.dumps") or name.endswith("save_pretrained")}
    # CellSearch.save is Tune's searcher checkpoint (the search state, not weights).
    assert writers <= {("sweep/search.py", "CellSearch.save")}, writers
    pipeline = (PACKAGE / "pipeline.py").read_text()
    assert 'WEIGHTS = "encoder.safetensors"' in pipeline and "save_file(" in pipeline and "load_file(" in pipeline


def test_yaml_is_read_with_safe_load_only():
    for path, scope, name, _ in _calls():
        if name.startswith("yaml."):
            assert name in ("yaml.safe_load", "yaml.safe_dump", "yaml.safe_load_all"), f"{path}:{scope}: {name}"


@pytest.mark.parametrize("name", ["..", ".", "../escape", "a/b", "/abs", "x\\y", "~"])
def test_spec_names_cannot_leave_the_sweeps_folder(name):
    with pytest.raises(UserError, match="name"):
        parse_spec({"name": name, "optim": {"lr": 1e-3}})


def test_safe_spec_names_still_work():
    assert parse_spec({"name": "size_vs_data.v2-b", "optim": {"lr": 1e-3}}).name == "size_vs_data.v2-b"
