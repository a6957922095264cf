"""checkov's skipped checks in template.yaml: each one says why, so no failure is ever silenced unexplained."""

from __future__ import annotations

import re

from hookrun.template import load_template


def checkov_skips() -> list[tuple[str, dict[str, object]]]:
    resources = load_template()["Resources"]
    return [
        (name, skip)
        for name, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def test_the_template_skips_some_checks() -> None:
    assert checkov_skips()


def test_every_skipped_check_is_named_by_its_id() -> None:
    assert [name for name, skip in checkov_skips() if not re.fullmatch(r"CKV2?_AWS_\d+", str(skip.get("id")))] == []


def test_every_skipped_check_gives_a_reason_of_a_sentence_or_more() -> None:
    reasons = [(name, skip["id"], str(skip.get("comment") or "")) for name, skip in checkov_skips()]
    assert [(name, check) for name, check, reason in reasons if len(reason.split()) < 5] == []
