"""schemathesis against the API's own OpenAPI schema, served by the local stack: no input gets a 5xx.

`make test` runs a short pass (SCHEMATHESIS_EXAMPLES, default 10 per operation); `make fuzz` a long one, of at most
SCHEMATHESIS_OPERATION_SECONDS per operation (see tests/budget.py).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.budget import Budget, seconds_from
from tests.e2e.conftest import RunningStack

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
BUDGETS: dict[str, Budget] = {}  # per operation


@pytest.fixture(scope="module")
def api_schema(local_stack: RunningStack) -> Any:
    schema = schemathesis.openapi.from_url(f"{local_stack.endpoint}/swagger?format=json")
    schema.config.base_url = local_stack.endpoint
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: Any, local_stack: RunningStack) -> None:
    budget = BUDGETS.setdefault(case.operation.label, Budget(seconds_from("SCHEMATHESIS_OPERATION_SECONDS")))
    if budget.spent():
        return
    for user in ("admin", "alice"):
        case.call_and_validate(
            base_url=local_stack.endpoint, headers={"X-Hookrun-User": user}, checks=[not_a_server_error]
        )
