"""The README's blocks are marked for the executable-README test, and its banner is the one `make run` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookrun.banner import StackFacts, banner
from hookrun.template import ROOT
from tests.readme import KINDS, README, Block, Outcome, blocks, problems, run_block, run_options


def readme_blocks() -> list[Block]:
    return blocks(README.read_text(encoding="utf-8"))


def test_every_shell_block_is_marked_run_needs_aws_or_not_run() -> None:
    unmarked = [block.line for block in readme_blocks() if block.is_shell and block.kind not in KINDS - {"banner"}]
    assert unmarked == [], f"README.md blocks at these lines need a marker (see the comment atop README.md): {unmarked}"


def test_every_marker_is_known_and_its_options_parse() -> None:
    marked = [block for block in readme_blocks() if block.kind is not None]
    assert {block.kind for block in marked} <= KINDS
    for block in marked:
        if block.kind == "run":
            run_options(block.options)
        if block.kind == "not-run":
            assert block.options, f"line {block.line}: a not-run marker says why"


def test_most_shell_blocks_run() -> None:
    shell = [block for block in readme_blocks() if block.is_shell]
    assert sum(block.kind == "run" for block in shell) >= len(shell) // 2


def test_the_readme_banner_is_the_one_make_run_prints() -> None:
    (shown,) = [block for block in readme_blocks() if block.kind == "banner"]
    url = "http://127.0.0.1:3000/pipeline/webhook/hr_..."
    printed = banner(StackFacts(endpoint="http://127.0.0.1:3000", webhook_url=url, data=ROOT / ".hookrun"))
    assert shown.text.splitlines() == printed


def test_blocks_and_markers_are_read_from_markdown() -> None:
    text = '<!-- readme: run exit=3 output="a b" env="X=1" -->\n```bash\necho hi\n```\n\n```json\n{}\n```\n'
    run, other = blocks(text)
    assert (run.line, run.language, run.text, run.kind) == (2, "bash", "echo hi\n", "run")
    assert run_options(run.options).exit == 3 and run_options(run.options).output == ("a b",)
    assert run_options(run.options).env == {"X": "1"}
    assert (other.language, other.kind) == ("json", None)


def test_a_failing_line_fails_its_block(tmp_path: Path) -> None:
    block = Block(line=1, language="bash", text="echo one\nfalse\necho never\n", kind="run", options='output="one"')
    outcome = run_block(block, "http://127.0.0.1:9", {}, tmp_path / "config.toml")
    assert outcome.exit_code != 0 and "never" not in outcome.output
    assert problems(block, outcome) == [f"exit code {outcome.exit_code}, expected 0"]


def test_a_block_runs_in_a_new_shell_without_the_environments_bin_on_path(tmp_path: Path) -> None:
    block = Block(line=1, language="bash", text="command -v hookrun || echo none\n", kind="run")
    assert run_block(block, "http://127.0.0.1:9", {}, tmp_path / "c.toml").output.strip() == "none"


def test_a_missing_output_is_a_problem() -> None:
    block = Block(line=1, language="bash", text="", kind="run", options='output="WOULD_RUN"')
    assert problems(block, Outcome(0, "nothing")) == ["no 'WOULD_RUN' in its output"]


@pytest.mark.parametrize("options", ["exit", "colour=red", 'env="NOEQUALS"'])
def test_a_malformed_option_is_refused(options: str) -> None:
    with pytest.raises(ValueError):
        run_options(options)
