"""The one exception type for mistakes a user can make (bad file, bad flag, conflict).

The CLI turns it into one line on stderr and exit status 2; anything else is a bug.
Every layer may import this module (stdlib only).
"""


def one_line(text: object) -> str:
    """A message as the one line users are promised (a multi-line report from SQLite or a
    library is joined with "; ")."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def plural(n: int, word: str, many: str | None = None) -> str:
    """"1 line", "2 lines": a count in a message reads right (`many` for irregular words)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


class SgtuiError(Exception):
    """A problem the user caused and can fix: the message says what is wrong and what to do."""


class ConflictError(SgtuiError):
    """An action was refused because the project changed since the screen was drawn."""


class WriteFailed(SgtuiError):
    """Saving failed for a reason outside sgtui (disk full, file made read-only or deleted).

    Nothing of the failed action was written; the message says what to do."""
