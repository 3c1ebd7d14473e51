"""Reading the YAML files users write (recipes, suites): a mapping, or one error that names the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devias_tk.errors import DeviasError


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """The file's top-level mapping ({} for an empty file); `what` completes "a <file> is a mapping ...". """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DeviasError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise DeviasError(f"{path}: {what} (got {type(data).__name__})")
    return data
