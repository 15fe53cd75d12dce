"""The error every check raises for a mistake in a run's configuration, and how any exception is told in one line."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration mistake: the message names the field and the fix."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """'Type: message' of an exception, on one line of printable characters, cut to about limit characters."""
    text = "".join(c for c in " ".join(str(error).split()) if c.isprintable())
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."
