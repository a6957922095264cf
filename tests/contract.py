"""The webhook's documented answers: the rows of README's error tables."""

from __future__ import annotations

import re

from hookrun.template import ROOT


def documented_answers() -> frozenset[tuple[int, str]]:
    """Every (status, code) an error body may carry: the rows of README's error table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*(\d{3})\s*\|\s*`([A-Z_]+)`\s*\|", readme, flags=re.MULTILINE)
    return frozenset((int(status), code) for status, code in rows)


DOCUMENTED = documented_answers()
