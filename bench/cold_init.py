"""Cold init of the webhook function against a bare `import boto3`, each in a fresh Python process.

(A) imports handlers.webhook and builds what the first invocation builds before its first AWS call: the
Container and its botocore clients (`container().trigger_ports`), with the function's environment from
template.yaml and fake credentials; (B) is `import boto3`. Both are timed inside the child with
time.perf_counter around the work, and by the parent as the process's wall time. One discarded run of each
first (bytecode caches), then A, B, A, B, ... and medians.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

from bench.common import REGION, ROOT, Row, Section, at_most, median

HANDLER_INIT = """\
import time
started = time.perf_counter()
import handlers.webhook
imported = time.perf_counter()
import botocore.session, botocore.config  # what the Container imports first: timed apart from building the clients
boto3_imported = time.perf_counter()
from handlers.composition import container
container().trigger_ports
print(time.perf_counter() - started, imported - started, boto3_imported - imported)
"""
IMPORT_BOTO3 = """\
import time
started = time.perf_counter()
import boto3
print(time.perf_counter() - started)
"""
ACCOUNT_ID = "123456789012"
STACK_NAME = "hookrun-bench"
TIMEOUT_SECONDS = 60
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def function_environment() -> dict[str, str]:
    """The webhook function's variables, resolved as the local stack resolves them; AWS faked, network unused."""
    from hookrun.template import TemplateResolver, function_properties, load_template, local_resources

    template = load_template()
    resolver = TemplateResolver(
        template, local_resources(template, STACK_NAME, REGION, ACCOUNT_ID), REGION, ACCOUNT_ID, STACK_NAME
    )
    variables = function_properties(template)["WebhookFunction"].get("Environment", {}).get("Variables", {})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "POWERTOOLS_"))}
    env.update({name: str(value) for name, value in resolver.resolve(variables).items()})
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def run_child(code: str, env: dict[str, str], *options: str) -> tuple[list[float], float, str]:
    """(the seconds the child printed, wall seconds of the process, the child's stderr)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *options, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=True,
    )
    wall = time.perf_counter() - started
    return [float(value) for value in done.stdout.split()], wall, done.stderr


def importtime_notes(env: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """`python -X importtime` over (A): the top modules by cumulative time and the packages by self time."""
    _, _, stderr = run_child(HANDLER_INIT, env, "-X", "importtime")
    cumulative: list[tuple[int, str]] = []
    by_package: dict[str, int] = defaultdict(int)
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, module = int(match[1]), int(match[2]), match[4]
            cumulative.append((cumulative_us, module))
            by_package[module.split(".")[0]] += self_us
    top = sorted(cumulative, reverse=True)[:10]
    packages = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:8]
    notes = ["python -X importtime over (A), top 10 modules by cumulative time (one run, with importtime's overhead):"]
    notes += [f"  {us / 1000:8.1f} ms  {module}" for us, module in top]
    notes.append("self time summed by top-level package: " + ", ".join(f"{p} {us / 1000:.0f} ms" for p, us in packages))
    return notes, {"top_cumulative_us": top, "self_us_by_package": packages}


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: median([sample[key] for sample in samples]) for key in samples[0]}


def measure(quick: bool) -> Section:
    repetitions = 3 if quick else 5
    env = function_environment()
    run_child(HANDLER_INIT, env)  # discarded: writes bytecode caches
    run_child(IMPORT_BOTO3, env)
    handler: list[dict[str, float]] = []
    boto3: list[dict[str, float]] = []
    for _ in range(repetitions):
        (total, imported, boto3_imported), wall, _ = run_child(HANDLER_INIT, env)
        handler.append({"in_child": total, "import": imported, "boto3": boto3_imported, "wall": wall})
        (total,), wall, _ = run_child(IMPORT_BOTO3, env)
        boto3.append({"in_child": total, "wall": wall})
    a, b = _medians(handler), _medians(boto3)
    ratio = a["in_child"] / b["in_child"]
    goal, met = at_most(ratio, 2.0, "x")
    section = Section(
        rows=[
            Row("Cold init (A): import handlers.webhook + Container/clients", a["in_child"] * 1000, "ms"),
            Row("  (A) part 1: import handlers.webhook", a["import"] * 1000, "ms"),
            Row("  (A) part 2: import botocore in the Container", a["boto3"] * 1000, "ms"),
            Row(
                "  (A) part 3: build Container, clients, adapters",
                (a["in_child"] - a["import"] - a["boto3"]) * 1000,
                "ms",
            ),
            Row("Cold init (B): import boto3", b["in_child"] * 1000, "ms"),
            Row("Cold init ratio A/B (in-child time)", ratio, "x", goal, met),
            Row("Cold init (A), process wall time", a["wall"] * 1000, "ms"),
            Row("Cold init (B), process wall time", b["wall"] * 1000, "ms"),
            Row("Cold init ratio A/B (process wall time)", a["wall"] / b["wall"], "x"),
        ],
        notes=[
            f"cold init: medians of {repetitions} fresh processes each, run A, B, A, B, ...; process wall time minus "
            f"in-child time (interpreter start + teardown): A {(a['wall'] - a['in_child']) * 1000:.0f} ms, "
            f"B {(b['wall'] - b['in_child']) * 1000:.0f} ms",
        ],
        data={"repetitions": repetitions, "handler_seconds": handler, "boto3_seconds": boto3},
    )
    notes, data = importtime_notes(env)
    section.notes += notes
    section.data["importtime"] = data
    return section
