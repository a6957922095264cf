"""The README's fenced blocks and their markers, and how a runnable one is run (see the comment atop README.md)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from hookrun.template import ROOT

README = ROOT / "README.md"
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
KINDS = frozenset({"run", "needs-aws", "not-run", "banner"})
LOCAL_ENDPOINT = "http://127.0.0.1:3000"
_FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
_MARKER = re.compile(r"^<!-- readme: (?P<kind>[\w-]+)(?P<options>.*?) -->$")
BLOCK_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Block:
    """A fenced block: where it starts (1-based line of its fence), its language, text, and its marker if any."""

    line: int
    language: str
    text: str
    kind: str | None = None
    options: str = ""

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES


@dataclass(frozen=True)
class RunOptions:
    exit: int = 0
    output: tuple[str, ...] = ()
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, with the marker comment on the line before its fence, if any."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), len(lines))
        marker = _MARKER.match(lines[index - 1].strip()) if index > 0 else None
        found.append(
            Block(
                line=index + 1,
                language=fence["language"],
                text="\n".join(lines[index + 1 : end]) + "\n",
                kind=marker["kind"] if marker else None,
                options=marker["options"].strip() if marker else "",
            )
        )
        index = end + 1
    return found


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n")


def run_options(options: str) -> RunOptions:
    """A `run` marker's options: exit=N, output="..." (repeatable), stdin="...", env="N=V", file="NAME=content"."""
    exit_code, output, stdin, env, files = 0, [], None, {}, {}
    for token in shlex.split(options):
        name, equals, value = token.partition("=")
        if not equals:
            raise ValueError(f"a run option is name=value, not {token!r}")
        if name == "exit":
            exit_code = int(value)
        elif name == "output":
            output.append(value)
        elif name == "stdin":
            stdin = _unescape(value)
        elif name in {"env", "file"}:
            key, equals, content = value.partition("=")
            if not equals:
                raise ValueError(f"{name}= takes NAME=value, not {value!r}")
            (env if name == "env" else files)[key] = _unescape(content)
        else:
            raise ValueError(f"unknown run option {name!r}")
    return RunOptions(exit_code, tuple(output), stdin, env, files)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str


def run_block(block: Block, endpoint: str, variables: dict[str, str], config: Path) -> Outcome:
    """Run a block in a new shell in the checkout, against the stack at `endpoint`, as a reader would type it.

    The shell's PATH does not hold the environment's bin folder: commands must work in a new shell.
    """
    options = run_options(block.options)
    venv_bin = str(Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv") / "bin")
    path = os.pathsep.join(
        part for part in os.environ.get("PATH", "").split(os.pathsep) if part and Path(part) != Path(venv_bin)
    )
    env = {
        "PATH": path,
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
        "HOOKRUN_ENDPOINT": endpoint,
        "HOOKRUN_CONFIG": str(config),
        "UV_PYTHON_DOWNLOADS": "never",
        **variables,
        **options.env,
    }
    written = []
    for name, content in options.files.items():
        target = ROOT / name
        if target.exists():
            raise FileExistsError(f"{target} exists: a README block's file= must not replace it")
        target.write_text(content, encoding="utf-8")
        written.append(target)
    try:
        result = subprocess.run(
            ["bash", "-e", "-c", block.text.replace(LOCAL_ENDPOINT, endpoint)],
            cwd=ROOT,
            env=env,
            input=options.stdin or "",
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_SECONDS,
            start_new_session=True,  # no controlling terminal: a hidden prompt reads stdin, as in CI
            check=False,
        )
    finally:
        for target in written:
            target.unlink(missing_ok=True)
    return Outcome(result.returncode, result.stdout + result.stderr)


def problems(block: Block, outcome: Outcome) -> list[str]:
    """What a run block's outcome breaks of its marker: its exit code, each expected output."""
    options = run_options(block.options)
    found = []
    if outcome.exit_code != options.exit:
        found.append(f"exit code {outcome.exit_code}, expected {options.exit}")
    found.extend(f"no {text!r} in its output" for text in options.output if text not in outcome.output)
    return found
