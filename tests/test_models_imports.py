"""The models code imports one way: no module of neurokit.models imports, directly or
through others, a module that imports it (read from the source with ast, no import run)."""

import ast
from pathlib import Path

import neurokit.models

PACKAGE = "neurokit.models"


def _internal_imports(path):
    """Modules of neurokit.models that a module imports, anywhere in its source (functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module if node.level == 0 else f"{PACKAGE}.{node.module}"
            names = [module] + [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith(PACKAGE + "._")}
    return found


def _graph():
    root = Path(neurokit.models.__file__).parent
    modules = {f"{PACKAGE}.{p.stem}": p for p in root.glob("_*.py") if p.stem != "__init__"}
    return {m: {d for d in _internal_imports(p) if d in modules and d != m} for m, p in modules.items()}


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, stack + [dep])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_models_modules_import_one_way():
    graph = _graph()
    assert f"{PACKAGE}._folds" in graph and graph[f"{PACKAGE}._cv"]  # the graph was read
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_fold_machinery_builds_on_none_of_its_users():
    graph = _graph()
    users = {f"{PACKAGE}._cv", f"{PACKAGE}._permute", f"{PACKAGE}._confounds", f"{PACKAGE}._sensitivity",
             f"{PACKAGE}._suite"}
    assert not graph[f"{PACKAGE}._folds"] & users
    assert f"{PACKAGE}._folds" in graph[f"{PACKAGE}._permute"] and f"{PACKAGE}._folds" in graph[f"{PACKAGE}._confounds"]
    assert {f"{PACKAGE}._permute", f"{PACKAGE}._confounds", f"{PACKAGE}._folds"} <= graph[f"{PACKAGE}._cv"]
