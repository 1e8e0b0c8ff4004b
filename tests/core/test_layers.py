"""The import graph of the package: no cycles, and the heavy libraries only where the layout puts them.

Every import counts, at module level or inside a function: a lazy import that closes a cycle is still a
cycle a reader has to untangle. `from a.b import c` is an edge to `a.b.c` when that is a module,
else to `a.b`.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "xscale"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module (inside or outside the package) that `name` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(name, path, modules) if m in modules and m != name}
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_inside_the_package():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _importers(library: str) -> set[str]:
    modules = _modules()
    return {name for name, path in modules.items()
            if any(m == library or m.startswith(library + ".") for m in _imports(name, path, modules))}


def test_ray_is_imported_by_the_sweep_package_only():
    assert {m for m in _importers("ray") if m != "xscale.sweep" and not m.startswith("xscale.sweep.")} == set()


def test_mlflow_is_imported_by_tracking_only():
    assert _importers("mlflow") == {"xscale.tracking"}


def test_keys_and_spec_import_nothing_heavy():
    graph = _graph()
    for name in ("xscale.keys", "xscale.spec", "xscale.errors"):
        reach, todo = set(), [name]
        while todo:
            for m in graph[todo.pop()] - reach:
                reach.add(m)
                todo.append(m)
        modules = _modules()
        outside = {m for r in reach | {name} for m in _imports(r, modules[r], modules) if not m.startswith("xscale")}
        assert not outside & {"torch", "ray", "mlflow", "transformers", "datasets"}, (name, outside)
