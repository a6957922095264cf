"""What `hookrun dev` (`make run`) prints once the local stack is up: the README shows it verbatim (a test checks).

Every command it prints runs as printed in a new shell in the checkout: `bin/hookrun` is the checkout's CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hookrun.cli_common import DEFAULT_ENDPOINT
from hookrun.local_stack import EXAMPLE_PIPELINE as PIPELINE
from hookrun.local_stack import EXAMPLE_RUN_AS as RUN_AS
from hookrun.template import ROOT

CLI = "bin/hookrun"  # the checkout's CLI, from any shell (see bin/hookrun)


@dataclass(frozen=True)
class StackFacts:
    """What the banner says about a started stack."""

    endpoint: str
    webhook_url: str | None  # None: the kept URL no longer works
    data: Path
    restored: bool = False
    runs_stopped: int = 0


def shown_path(path: Path) -> str:
    """A data folder as the reader would type it: relative to the checkout when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def banner(facts: StackFacts) -> list[str]:
    """The lines printed once the stack is ready (plain text)."""
    endpoint_option = "" if facts.endpoint == DEFAULT_ENDPOINT else f" --endpoint {facts.endpoint}"
    lines = [f"hookrun local stack on {facts.endpoint}"]
    if facts.restored:
        lines.append(f"Data folder: {shown_path(facts.data)} (state restored; --fresh starts empty)")
        if facts.runs_stopped:
            lines.append(
                f"{facts.runs_stopped} run(s) in flight when the stack stopped are recorded FAILED"
                " (LOCAL_STACK_STOPPED)."
            )
    else:
        lines.append(f"Data folder: {shown_path(facts.data)} (started empty, with examples/)")
    url = facts.webhook_url
    if url is None:
        lines.append(
            f"The webhook URL of pipeline {PIPELINE} kept in the data folder no longer works (rotated or removed"
            f" since). `{CLI} webhook rotate {PIPELINE} --as admin{endpoint_option}` prints a new one; --fresh starts"
            " again from examples/."
        )
    else:
        if facts.restored:
            lines.append(
                f"The webhook of pipeline {PIPELINE} runs as {RUN_AS}; its URL is the one of the last start (its token"
                " is kept in the data folder):"
            )
        else:
            lines.append(
                f"The webhook of pipeline {PIPELINE} is enabled and runs as {RUN_AS}. Its URL holds the token (kept in"
                " the data folder, for this machine's user only):"
            )
        lines.append(f"  {url}")
        lines.append("Try (in the checkout, in any shell):")
        lines.append(f"  curl -H 'Content-Type: application/json' -X POST --data '{{}}' {url}")
        lines.append(f"""  curl -H 'Content-Type: application/json' -X POST --data '{{"abc":"456"}}' {url}""")
    if url is None:
        lines.append("Try (in the checkout, in any shell):")
    lines.append(f"  {CLI} runs start {PIPELINE} -f abc=789 --watch --as {RUN_AS}{endpoint_option}")
    lines.append(f"  {CLI} runs list {PIPELINE} --as {RUN_AS}{endpoint_option}")
    lines.append(
        f"Follow a run by the runId it was answered: {CLI} runs watch RUN_ID --as {RUN_AS}{endpoint_option}"
        f" (or curl -H 'X-Hookrun-User: {RUN_AS}' {facts.endpoint}/api/runs/RUN_ID)"
    )
    lines.append(f"The API in Swagger UI (this machine only): {facts.endpoint}/swagger")
    lines.append(f"The run viewer: {facts.endpoint}/ui/ (pick the acting user on the page)")
    lines.append("Ctrl-C stops it.")
    return lines
