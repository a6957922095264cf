"""`python -m bench [--quick] [--only NAME]`: run the sections, print one table, keep it as JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import ROOT, Row, Section
from bench.section import SECTIONS

RESULTS = ROOT / "bench" / "results"
SECTION_TIMEOUT_SECONDS = 900


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30)
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "load_average": os.getloadavg()[0],  # other work on the machine skews every figure
    }


def run_section(name: str, quick: bool, console: Console) -> tuple[Section | None, float]:
    """Run one section in a fresh process; None (and its output's tail printed) if it failed."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as directory:
        out, log = Path(directory) / "section.json", Path(directory) / "output.log"
        command = [sys.executable, "-m", "bench.section", name, "--out", str(out), *(["--quick"] if quick else [])]
        with console.status(f"bench: {name} ..."), log.open("wb") as output:
            try:
                done = subprocess.run(
                    command,
                    check=False,
                    cwd=ROOT,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=SECTION_TIMEOUT_SECONDS,
                )
                failure = f"exited {done.returncode}" if done.returncode else ""
            except subprocess.TimeoutExpired:
                failure = f"did not finish within {SECTION_TIMEOUT_SECONDS} s"
        elapsed = time.perf_counter() - started
        if failure or not out.exists():
            tail = log.read_text(errors="replace").splitlines()[-25:]
            console.print(f"[red]bench section {name} {failure or 'wrote no figures'}[/]; the end of its output:")
            console.print("\n".join(tail), markup=False, highlight=False)
            return None, elapsed
        return Section.from_json(json.loads(out.read_text(encoding="utf-8"))), elapsed


def format_value(row: Row) -> str:
    if row.value is None:
        return "n/a"
    if isinstance(row.value, int):
        return str(int(row.value))
    if row.unit == "x":
        return f"{row.value:.2f}"
    return f"{row.value:.0f}" if abs(row.value) >= 100 else f"{row.value:.1f}"


def table(sections: dict[str, Section | None]) -> Table:
    grid = Table(title="hookrun bench", title_justify="left")
    grid.add_column("figure")
    grid.add_column("value", justify="right")
    for header in ("unit", "goal", "met?"):
        grid.add_column(header)
    for name, section in sections.items():
        rows = section.rows if section is not None else [Row(f"{name}: section failed (see above)", None, "")]
        for index, row in enumerate(rows):
            met = "" if row.met is None else ("[green]yes[/]" if row.met else "[red]no[/]")
            grid.add_row(row.name, format_value(row), row.unit, row.goal, met, end_section=index == len(rows) - 1)
    return grid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and a shorter load")
    parser.add_argument("--only", metavar="NAME", choices=list(SECTIONS), help="one section: " + ", ".join(SECTIONS))
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # a log or a pipe: do not wrap the table at 80 columns
    about = machine()
    started_at = datetime.now(UTC)
    console.print(
        f"machine: {about['nproc']} CPUs ({about['usable_cpus']} usable), {about['python']}, {about['platform']}, "
        f"load average {about['load_average']:.2f} at the start\n"
        f"commit:  {about['commit']}\n"
        f"mode:    {'quick' if args.quick else 'full'}{f', only {args.only}' if args.only else ''}",
        highlight=False,
        soft_wrap=True,
    )
    sections: dict[str, Section | None] = {}
    durations: dict[str, float] = {}
    for name in [args.only] if args.only else list(SECTIONS):
        sections[name], durations[name] = run_section(name, args.quick, console)
    console.print(table(sections))
    for section in sections.values():
        for note in section.notes if section is not None else []:
            console.print(note, markup=False, highlight=False, soft_wrap=True)
    console.print(
        "section seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in durations.items()),
        highlight=False,
    )
    result = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": about,
        "quick": args.quick,
        "only": args.only,
        "section_seconds": durations,
        "rows": [row.to_json() for section in sections.values() if section for row in section.rows],
        "sections": {name: section.to_json() if section else None for name, section in sections.items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    path = RESULTS / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text, encoding="utf-8")
    (RESULTS / "latest.json").write_text(text, encoding="utf-8")
    console.print(f"written: {path.relative_to(ROOT)} and bench/results/latest.json", highlight=False)
    return 1 if any(section is None for section in sections.values()) else 0
