"""Run one section in this process: `python -m bench.section NAME [--quick] --out FILE` writes its JSON to FILE."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

# section name -> module with `measure(quick: bool) -> Section`, in the order of the table
SECTIONS = {
    "calls": "bench.aws_calls",
    "cold": "bench.cold_init",
    "cpu": "bench.handler_cpu",
    "transitions": "bench.transitions",
    "load": "bench.local_load",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.section")
    parser.add_argument("name", choices=sorted(SECTIONS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    section = importlib.import_module(SECTIONS[args.name]).measure(args.quick)
    args.out.write_text(json.dumps(section.to_json(), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
