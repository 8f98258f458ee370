"""The one exception a bad file raises."""

from __future__ import annotations

#: Tokens are quoted in messages; a runaway token (a whole binary blob) is cut short.
_MAX_TOKEN = 40


class FormatError(ValueError):
    """A file that cannot be read: where (1-based line), what (token) and why.

    ``str(e)`` reads ``line 12: <message> (found 'tok')``. Messages describe the
    file and the expected format only, never the ground truth.
    """

    def __init__(self, message: str, *, line: int | None = None, token: str | None = None) -> None:
        if token is not None and len(token) > _MAX_TOKEN:
            token = token[:_MAX_TOKEN] + "..."
        self.message = message
        self.line = line
        self.token = token
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.line is not None:
            text = f"line {self.line}: {text}"
        if self.token is not None:
            text = f"{text} (found {self.token!r})"
        return text

    def __str__(self) -> str:
        return self._render()
