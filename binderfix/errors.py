"""The one error type a user sees: what went wrong, and what to do about it."""

from __future__ import annotations


class BinderfixError(Exception):
    """A problem the user can fix. The CLI prints it without a traceback and exits 2.

    ``hint`` says what to do; it is printed on its own line after the message.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"
