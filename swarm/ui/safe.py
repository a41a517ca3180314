"""Text from an agent, made safe for a terminal.

File names, summaries, tool names, errors and diff lines come from code
swarm did not write. Printed raw, an escape sequence could retitle the
window, rewrite earlier lines or fake a prompt, and a newline could forge a
line of swarm's own output. `safe` shows every control character (C0, DEL,
C1, the bidirectional overrides of "Trojan source") as a visible escape
(`\\x1b`, `\\n`, `\\u202e`), removes withheld secrets (swarm.env.allowlist),
and escapes rich markup so `[red]` stays text. Tabs are kept: a terminal
prints them as spaces.

`rich` strips a few control codes itself but passes ESC and the C1 controls
through, so every print site that shows agent text goes through `safe`
(or `safe_text` for a `rich.text.Text`).
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.text import Text

from swarm.env.allowlist import redact

__all__ = ["safe", "safe_line", "safe_text"]

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_line(value: Any) -> str:
    """`value` as one line of plain text: control characters shown as escapes, secrets redacted."""
    return _UNSAFE.sub(_shown, redact(str(value)))


def safe(value: Any) -> str:
    """`value` ready for `console.print`: one line, control characters escaped, no rich markup, no secrets."""
    return escape(safe_line(value))


def safe_text(value: Any, style: str = "") -> Text:
    """`value` as a rich `Text` (markup is not read from a Text): one line, escaped, redacted."""
    return Text(safe_line(value), style=style)
