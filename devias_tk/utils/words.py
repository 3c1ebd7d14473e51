"""Counts in messages, with their noun in the right number."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 video', '2 videos' ('1 class', '2 classes' with `many`)."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def one_line(exc: BaseException) -> str:
    """An exception's whole message on one line (torch's run to paragraphs): lines joined, nothing cut, so the
    reason is never lost mid-sentence and the CLI's message stays one line."""
    return " ".join(str(exc).split())
