"""Counts in messages, with their noun in the right number."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 video', '2 videos' ('1 class', '2 classes' with `many`)."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def one_line(exc: BaseException) -> str:
    """An exception's whole message on one line (torch's run to paragraphs): lines joined, nothing cut, so the
    reason is never lost mid-sentence and the CLI's message stays one line."""
    return " ".join(str(exc).split())


# Long enough for any decoder's whole reason; short enough that a runaway message never bloats a store or report.
REASON_LIMIT = 2000


def reason_line(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` on one line (whitespace runs collapsed), whole up to `limit` characters; a longer one is cut there
    with the cut marked, so a reader knows the reason goes on."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    return f"{line[:limit]} [... {len(line) - limit} more characters]"
