"""Errors a user can act on. The CLI prints their message without a traceback."""

from __future__ import annotations


class DeviasError(Exception):
    """Base class for problems caused by input or configuration, not by a bug."""


class OptionError(DeviasError, ValueError):
    """A setting outside its range (a window of 0 frames, a negative size). Also a ValueError, so that library
    callers that caught the plain check's ValueError still do."""


class VideoReadError(DeviasError):
    """A video file that cannot be used; `reason` is short and stable enough to record in a store."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ListFormatError(DeviasError):
    """A malformed line in a list file, reported as file:line."""

    def __init__(self, path: str, line_no: int, message: str) -> None:
        self.path = str(path)
        self.line_no = line_no
        super().__init__(f"{self.path}:{line_no}: {message}")


class DiskFullError(DeviasError):
    """A write that found no space left on its filesystem (ENOSPC or a quota); `path` is where it wrote,
    `needed` the bytes the write needed when known."""

    def __init__(self, path: str, message: str, needed: int | None = None) -> None:
        self.path = str(path)
        self.needed = needed
        super().__init__(message)
