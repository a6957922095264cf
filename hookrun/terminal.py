"""Job output made safe to print on a terminal: colours stay, every other control sequence goes.

A job's output is written by a pipeline's script, and a terminal obeys what it prints: OSC 52 writes the
clipboard, OSC 8 makes links, other sequences move the cursor, retitle the window or rewrite earlier lines.
Only SGR (`ESC [ ... m`: colours and styles) is kept, with newlines and tabs.
"""

from __future__ import annotations

import re

# SGR first (kept); then what is dropped: other CSI sequences, OSC / DCS / SOS / PM / APC strings (ended by BEL or
# ST, or unended), any other escape, and the C0 and C1 control characters other than newline and tab
_SEQUENCES = re.compile(
    r"(?P<sgr>\x1b\[[0-9;:]*m)"
    r"|\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x9d\x90\x98\x9e\x9f].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b.?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]",
    re.DOTALL,
)


def terminal_safe(text: str) -> str:
    """`text` with its SGR sequences, newlines and tabs, and no other control character or sequence."""
    text = text.replace("\r\n", "\n")
    return _SEQUENCES.sub(lambda match: match.group("sgr") or "", text)
