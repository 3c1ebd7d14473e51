"""The store kinds are declared once (devias_tk.cache.kinds): no other module spells a kind's name or keeps its own
format version, so a writer and its readers cannot drift apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from devias_tk.cache import kinds
from devias_tk.masks.extract import store_attributes as mask_attributes

PACKAGE = Path(kinds.__file__).resolve().parents[1]
DECLARED = (kinds.FAME_MASKS, kinds.SCENE_LABELS, kinds.FEATURES)


def test_no_module_but_the_declaration_spells_a_kind_name():
    names = {k.name for k in DECLARED if k is not kinds.FEATURES}  # "features" is also an ordinary word
    spelled = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in sorted(PACKAGE.rglob("*.py"))
               if path.name != "kinds.py" for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Constant) and node.value in names]
    assert spelled == []


def test_no_module_keeps_its_own_store_format_version():
    own = re.compile(r"^(\w*STORE\w*VERSION|KIND)\s*=", re.MULTILINE)
    kept = [str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py")) if own.search(path.read_text())]
    assert kept == []


def test_a_writer_stamps_the_declared_kind(tmp_path):
    from devias_tk.masks import fame
    from devias_tk.masks.windows import WindowSpec

    (tmp_path / "list.txt").write_text("a.avi 0\n")
    attrs = mask_attributes(WindowSpec(), fame.FameParams(), tmp_path / "list.txt", 1)
    assert (attrs["kind"], attrs["format_version"]) == (kinds.FAME_MASKS.name, kinds.FAME_MASKS.version)
    assert set(kinds.MASK_ROWS) <= set(kinds.FAME_MASKS.rows) and set(kinds.SCENE_ROWS) <= set(kinds.SCENE_LABELS.rows)
