"""The error registry (domain.errors.ErrorCode) is the one list of the API's codes: the README's tables say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.errors import ErrorCode, HookrunError
from handlers.http import error_answer

README = Path(__file__).resolve().parents[2] / "README.md"
# the sections whose `| status | code |` tables list the API's answers (the run viewer's own server has its own)
API_SECTIONS = ("## The webhook", "## Management API")


def _sections(text: str) -> list[str]:
    """The text of each API section, up to the next section of the same level."""
    found = []
    for heading in API_SECTIONS:
        start = text.index(f"\n{heading}\n")
        end = text.find("\n## ", start + 1)
        found.append(text[start : end if end != -1 else len(text)])
    return found


def readme_codes() -> set[tuple[str, int]]:
    """(code, status) of every row of the API's error tables in the README."""
    rows: set[tuple[str, int]] = set()
    for section in _sections(README.read_text(encoding="utf-8")):
        for table in re.findall(r"^\| status \| code \|.*\n\|[-|]+\|\n((?:\|.*\n)+)", section, flags=re.MULTILINE):
            for row in table.splitlines():
                status, codes = (cell.strip() for cell in row.split("|")[1:3])
                rows.update((code, int(status)) for code in re.findall(r"`([A-Z_]+)`", codes))
    return rows


def test_the_readme_tables_list_every_code_with_its_status_and_nothing_else() -> None:
    assert readme_codes() == {(code.name, code.status) for code in ErrorCode}


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_every_code_is_a_client_or_server_error_with_a_sentence(code: ErrorCode) -> None:
    assert re.fullmatch(r"[A-Z][A-Z_]+", code.name)
    assert 400 <= code.status < 600
    assert code.message.endswith(".")


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_an_error_is_answered_with_its_codes_status_and_message(code: ErrorCode) -> None:
    status, body, _ = error_answer(HookrunError(code))
    assert (status, body) == (code.status, {"code": code.name, "message": code.message})


def test_a_code_the_registry_does_not_list_cannot_be_named() -> None:
    with pytest.raises(KeyError):
        ErrorCode["INVALID_THING"]
