"""The executable README: every `readme: run` block of README.md runs, in order, against one fresh local stack."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import start_stack, stop_stack, wait_for_run
from tests.readme import README, blocks, problems, run_block


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
