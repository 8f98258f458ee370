"""How the audit log records a change of a long text (rules, an announcement's body).

Not the texts themselves: every rules version is kept as a row and an announcement is its
row, so an entry that copied both sides grew the log by up to twice the rules' 100,000
characters on every save. An entry holds instead, for each side, the text's SHA-256 and
length (which text was replaced by which, checkable against the rows), and in ``after``
under ``DIFF_KEY`` a unified diff of what changed, cut at ``DIFF_CHARS`` characters with a
closing line that says so. The console's audit page shows that diff (``admin.audit_log``).
"""

from __future__ import annotations

import difflib
import hashlib
from typing import Any

#: The longest diff an entry keeps (characters); longer ones end with a ``CUT_MARK`` line.
DIFF_CHARS = 4096
#: The key of ``after`` holding ``{field: diff}``.
DIFF_KEY = "diff"
#: How the closing line of a cut diff begins (the audit page shows it as a note).
CUT_MARK = "… diff cut"
#: Lines of unchanged text shown around each change.
CONTEXT_LINES = 2


def fingerprint(text: str) -> dict[str, Any]:
    """What an entry keeps of one side of a text: its SHA-256 (of the UTF-8) and length."""
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "length": len(text)}


def unified_diff(before: str, after: str, before_name: str, after_name: str,
                 limit: int = DIFF_CHARS) -> str:
    """The unified diff of ``before`` -> ``after`` by lines ("" when equal), at most ``limit``
    characters of it: a longer one is cut at a line end (mid-line only when its first line is
    longer than ``limit``) and followed by a line that starts with ``CUT_MARK``."""
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), before_name, after_name,
                                      n=CONTEXT_LINES, lineterm=""))
    full = "\n".join(lines)
    if len(full) <= limit:
        return full
    head = full[:limit]
    if "\n" in head:
        head = head[:head.rindex("\n")]
    shown = head.count("\n") + 1
    return (f"{head}\n{CUT_MARK} at {limit:,} characters: {len(full):,} in all, "
            f"{len(lines) - shown:,} more lines not shown")


def diffs(**changed: tuple[str, str, str, str]) -> dict[str, dict[str, str]]:
    """``{DIFF_KEY: {field: diff}}`` for the fields given as (before, after, before_name,
    after_name) whose text differs; {} when none does (nothing to merge into ``after``)."""
    found = {name: unified_diff(*sides) for name, sides in changed.items()}
    found = {name: diff for name, diff in found.items() if diff}
    return {DIFF_KEY: found} if found else {}
