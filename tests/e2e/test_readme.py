"""The executable README: every `readme: run` block of README.md runs, in order, against one fresh local stack."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import RunningStack, start_stack, stop_stack, wait_for_run
from tests.readme import README, Block, blocks, problems, run_block


def test_every_runnable_readme_block_runs_as_written(tmp_path_factory: pytest.TempPathFactory) -> None:
    runnable = [block for block in blocks(README.read_text(encoding="utf-8")) if block.kind == "run"]
    directory = tmp_path_factory.mktemp("readme")
    stack = start_stack(directory)
    failures = []
    try:
        answer = requests.post(stack.webhook_url, json={}, timeout=30).json()
        run_id = wait_for_run(stack.endpoint, answer["runId"])["runId"]
        variables = {"URL": stack.webhook_url, "RUN_ID": run_id}
        for block in runnable:
            outcome = run_block(block, stack.endpoint, variables, Path(directory) / "config.toml")
            if found := problems(block, outcome):
                failures.append(f"README.md line {block.line}: {'; '.join(found)}\n{outcome.output}")
    finally:
        stop_stack(stack)
    assert not failures, "\n\n".join(failures)


def test_every_command_the_banner_prints_runs_as_printed_in_a_new_shell(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    printed = local_stack.stdout.read_text(encoding="utf-8").splitlines()
    tried = printed.index("Try (in the checkout, in any shell):")
    commands = [line.strip() for line in printed[tried + 1 :] if line.startswith("  ")]
    follow = next(line for line in printed if line.startswith("Follow a run by the runId it was answered: "))
    assert [c.split()[0] for c in commands] == ["curl", "curl", "bin/hookrun", "bin/hookrun"]
    shell = Block(line=0, language="bash", text="\n".join(commands) + "\n", kind="run", options='output="SUCCEEDED"')
    outcome = run_block(shell, local_stack.endpoint, {}, tmp_path / "config.toml")
    assert problems(shell, outcome) == [], outcome.output
    run_id = requests.post(local_stack.webhook_url, json={}, timeout=30).json()["runId"]
    watch = follow.split(": ", 1)[1].split(" (or ", 1)[0].replace("RUN_ID", run_id)
    outcome = run_block(Block(0, "bash", watch + "\n", "run"), local_stack.endpoint, {}, tmp_path / "config.toml")
    assert outcome.exit_code == 0, outcome.output
