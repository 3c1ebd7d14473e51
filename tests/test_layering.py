"""The package's layering (docs/python.md), read from the source: no import cycle between modules, no upward
import, no import between packages of one layer.

Layers, bottom up: errors and the package root; utils; cache; models and data (side by side, neither
imports the other); masks and the synthetic benchmark's generator; engine (the run machinery every trainer
shares); the stages (scenes, train, evaluate, pretrain), which take only each other's pure algorithms
(SHARED_ALGORITHMS), never each other's plumbing; bench; the command line and the Python front door
(`devias_tk.api`), side by side; `python -m devias_tk`.
Function-level imports count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import devias_tk

PACKAGE = Path(devias_tk.__file__).parent
LAYER = {"(root)": 0, "errors": 0, "utils": 1, "cache": 2, "models": 3, "data": 3, "synthetic": 4, "masks": 4,
         "engine": 5, "scenes": 6, "train": 6, "evaluate": 6, "pretrain": 6, "bench": 7, "cli": 8, "api": 8,
         "__main__": 9}
# Algorithms (plain functions over arrays, no I/O, no run machinery) one stage may take from another.
SHARED_ALGORITHMS = frozenset({"devias_tk.evaluate.metrics", "devias_tk.evaluate.knn"})


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("devias_tk", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules and n != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    assert _cycles(_graph()) == []


def offending(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a package above the importer's, or beside it (one layer) other than SHARED_ALGORITHMS."""
    bad = []
    for module, deps in sorted(graph.items()):
        own = _subpackage(module)
        for dep in sorted(deps):
            other = _subpackage(dep)
            if other == own:
                continue
            if LAYER[other] > LAYER[own] or (LAYER[other] == LAYER[own] and dep not in SHARED_ALGORITHMS):
                bad.append(f"{module} -> {dep}")
    return bad


def test_the_layer_check_finds_upward_and_sideways_imports():
    graph = {"devias_tk.cache.store": {"devias_tk.engine.loop", "devias_tk.utils.atomic"},
             "devias_tk.engine.loop": {"devias_tk.models.factory", "devias_tk.errors"},
             "devias_tk.train.step": {"devias_tk.evaluate.metrics", "devias_tk.scenes.label"},
             "devias_tk.pretrain.engine": {"devias_tk.train.optim"}}
    assert offending(graph) == ["devias_tk.cache.store -> devias_tk.engine.loop",
                                "devias_tk.pretrain.engine -> devias_tk.train.optim",
                                "devias_tk.train.step -> devias_tk.scenes.label"]


def test_no_upward_import():
    graph = _graph()
    unknown = {_subpackage(m) for m in graph} - set(LAYER)
    assert not unknown, f"give these subpackages a layer: {sorted(unknown)}"
    assert offending(graph) == []
