"""CPU time per accepted webhook with AWS stubbed, against a bare Powertools route given the same event.

(H) the real handlers.webhook.handler, its Container's trigger_ports being the in-memory fakes of tests/fakes.py
(fresh ones per batch); (R) a bare APIGatewayRestResolver with the same route answering 202 with a JSON body;
(R+) that route under the handler's own Logger/Metrics decorators, adding the same metric and log line the
handler adds for a started run (so that log_metrics flushes, as it does for the handler). All get
events/webhook-general.json. time.process_time over batches of BATCH calls, batches interleaved H, R, R+ with
the order rotated each round; per-call medians over batches (2000 calls each, 500 with --quick). Log lines and
metrics are formatted as usual and written to /dev/null.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from bench.common import Row, Section, at_most, fake_aws_environment, median

BATCH = 25
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _bare_handlers() -> tuple[Handler, Handler]:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    from aws_lambda_powertools.metrics import MetricUnit

    from handlers.observability import logger, metrics

    body = json.dumps(
        {
            "triggered": True,
            "runId": "run-0000000000000000000000000001",
            "pipelineId": "demo",
            "status": "QUEUED",
            "variables": {"abc": "123", "DEPLOY_ENV": "staging", "RETRIES": "3", "DRY_RUN": "false"},
            "statusUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/api/runs/run-1",
        }
    )

    def resolver(observed: bool) -> APIGatewayRestResolver:
        app = APIGatewayRestResolver()

        @app.post("/pipeline/webhook/<token>")
        def post_webhook(token: str) -> Response[str]:
            if observed:
                metrics.add_metric(name="RUN_STARTED", unit=MetricUnit.Count, value=1)
                logger.info("run started", extra={"runId": "run-1", "pipelineId": "demo"})
            return Response(status_code=202, content_type="application/json", body=body)

        return app

    bare, observed = resolver(False), resolver(True)

    def bare_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return bare.resolve(event, context)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def observed_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return observed.resolve(event, context)

    return bare_handler, observed_handler


def measure(quick: bool) -> Section:
    fake_aws_environment(TABLE_NAME="unused")
    from domain.models import Role
    from handlers import composition, webhook
    from handlers.observability import logger
    from tests.fakes import FakeRunStarter, FakeStore, fake_ports
    from tests.support import DEMO_TOKEN, FakeLambdaContext, demo_pipeline, load_event

    pipeline = demo_pipeline()

    def fresh_container() -> composition.Container:
        store = FakeStore()
        store.add_pipeline(pipeline)
        store.add_user("alice", Role.RUNNER)
        store.enable(DEMO_TOKEN, "demo", "alice")
        wiring = composition.Container(composition.Settings(table_name="unused", state_machine_arn="unused"))
        wiring.__dict__["trigger_ports"] = fake_ports(store, FakeRunStarter())  # what the tests' FakeContainer does
        return wiring

    bare, observed = _bare_handlers()
    variants: dict[str, Handler] = {"H": webhook.handler, "R": bare, "R+": observed}
    event, context = load_event("webhook-general.json"), FakeLambdaContext()
    per_call: dict[str, list[float]] = {name: [] for name in variants}
    rounds = (500 if quick else 2000) // BATCH

    def batch(name: str) -> float:
        composition.use_container(fresh_container())
        handler = variants[name]
        started = time.process_time()
        for _ in range(BATCH):
            response = handler(event, context)
        elapsed = time.process_time() - started
        if response["statusCode"] != 202:
            raise RuntimeError(f"{name}: expected 202, got {response['statusCode']}: {response.get('body')}")
        return elapsed / BATCH

    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        stream_handler = logger.registered_handler
        if isinstance(stream_handler, logging.StreamHandler):
            stream_handler.setStream(devnull)
        names = list(variants)
        for name in names:
            batch(name)  # warm-up, discarded
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                per_call[name].append(batch(name))
    composition.use_container(None)

    h, r, r_plus = (median(per_call[name]) for name in ("H", "R", "R+"))
    goal, met = at_most(h / r, 1.5, "x")
    return Section(
        rows=[
            Row("Handler CPU per accepted webhook (H), AWS faked", h * 1e6, "µs"),
            Row("Bare Powertools route (R), same event", r * 1e6, "µs"),
            Row("Handler CPU ratio H/R", h / r, "x", goal, met),
            Row("Bare route + handler's decorators, metric, log (R+)", r_plus * 1e6, "µs"),
            Row("Handler CPU ratio H/R+", h / r_plus, "x"),
        ],
        notes=[
            f"handler CPU: {rounds} rounds x {BATCH} calls per variant, process_time per batch, medians of batches; "
            f"per-round H/R ratios range {min(a / b for a, b in zip(per_call['H'], per_call['R'], strict=True)):.2f}"
            f"-{max(a / b for a, b in zip(per_call['H'], per_call['R'], strict=True)):.2f}x"
        ],
        data={"batch": BATCH, "rounds": rounds, "per_call_seconds": per_call},
    )
