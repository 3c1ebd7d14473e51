"""No function of the package is longer than 80 lines (the CLI's commands, whose option declarations are
long by nature, are held to their bodies)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "devias_tk"
LIMIT = 80


def _lengths(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = node.body[0].lineno if path.parent.name == "cli" else node.lineno
            out.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", node.end_lineno - start + 1))
    return out


def test_no_function_over_the_limit() -> None:
    found = [(name, n) for path in sorted(PACKAGE.rglob("*.py")) for name, n in _lengths(path)]
    assert len(found) > 500  # the walk saw the package
    too_long = [f"{name}: {n} lines" for name, n in found if n > LIMIT]
    assert not too_long, "functions over 80 lines:\n" + "\n".join(too_long)
