"""Counts in messages, with their noun in the right number."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 video', '2 videos' ('1 class', '2 classes' with `many`)."""
    return f"{count} {one if count == 1 else many or one + 's'}"
