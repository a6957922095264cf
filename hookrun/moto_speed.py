"""Take work off moto's hot paths, so the local stack's one moto process keeps up with webhooks while runs execute.

moto serves every AWS call of every sandbox in this process, under one GIL. Some of its habits cost more than the
calls themselves (measured with py-spy under `make bench`):
- its Step Functions interpreter parses the state machine's definition with ANTLR and builds its evaluation
  components at every execution start (half of the process's CPU under load); they are kept per definition, as
  each execution keeps its state in an Environment of its own and the components of Map, Task and Fail states
  (hookrun's) hold none;
- it compiles each JSONPath (`InputPath`, `ResultPath`, ...) with a new yacc parser each time it evaluates one;
  compiled paths are kept (they hold no state of an evaluation);
- its DynamoDB Query on a table's key sorts every item of the table and then keeps those of the one partition
  asked for, so each query grows slower with every run kept; it gets only that partition's items to sort;
- it turns each DynamoDB answer, already a dict in DynamoDB's JSON, into JSON through its generic serializer, which
  walks botocore's shape of the operation attribute by attribute (the costliest part of an UpdateItem); the items
  operations' answers are dumped as they are, which gives the same JSON (checked operation by operation), unless
  they hold what JSON cannot (binary values), which still take the serializer;
- it lists a response class's methods with `inspect.getmembers` for every request; classes keep their methods, so
  each class's list is kept;
- its server finds the backend of each request by listing moto's package folder (a stat per service, ~250)
  and then matching ~250 URL patterns, under a lock; the answer depends only on the host it inferred, so it is
  remembered per host;
- its Step Functions interpreter builds a new boto3 Lambda client (a deep copy of botocore's event hooks) for
  every Task that invokes a function; they differ only by region (all sign as the state machine's role,
  hookrun.local_iam), and botocore clients are thread-safe, so one per region is kept, made at the first Task.
None changes what moto answers. And the process hands the GIL over every millisecond rather than every 5: a thread
serving a webhook's call waits less behind the interpreter's threads running executions.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from typing import Any

SWITCH_INTERVAL_SECONDS = 0.001
_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's server dispatcher and Step Functions' Lambda client; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _keep_programs()
        _keep_json_paths()
        _remember_backends()
        _reuse_lambda_clients()
        _query_one_partition()
        _dump_item_answers()
        _keep_method_names()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        _installed = True


def _keep_programs() -> None:
    from moto.stepfunctions.parser.asl.parse import asl_parser

    original = asl_parser.AmazonStateLanguageParser.parse
    programs: dict[str, tuple[Any, Any]] = {}

    def parse(definition: str) -> tuple[Any, Any]:
        if definition not in programs:
            programs[definition] = original(definition)  # raises on a syntax error: only good programs are kept
        return programs[definition]

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _keep_json_paths() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        setattr(module, "parse", functools.lru_cache(maxsize=4096)(getattr(module, "parse")))  # noqa: B009, B010


def _remember_backends() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _reuse_lambda_clients() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = getattr(lambda_eval_utils, "boto_client_for")  # noqa: B009 - moto does not export it

    @functools.cache
    def client_for(region: str, service: str) -> Any:
        return original(region=region, service=service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto signs every call of the interpreter with one set of keys, whatever the state's credentials
        return client_for(region, service)

    setattr(lambda_eval_utils, "boto_client_for", boto_client_for)  # noqa: B010


def _query_one_partition() -> None:
    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items
    querying = threading.local()  # the partition a Query on the table's own key reads, in this thread

    def all_items(self: Table) -> Any:
        hash_key = getattr(querying, "hash_key", None)
        if hash_key is None or not self.range_key_attr:
            return original_all_items(self)
        return list(self.items[hash_key].values()) if hash_key in self.items else []

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)  # index_name is the 8th parameter
        querying.hash_key = hash_key if index_name is None else None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            querying.hash_key = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


# the operations whose answer dict json.dumps renders as moto's serializer does (DeleteItem's has an extra key)
_DUMPED_AS_THEY_ARE = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}
    | {"TransactGetItems", "TransactWriteItems"}
)


def dumped_answer(handler: Any, action_result: Any) -> tuple[int, dict[str, str], str] | None:
    """A DynamoDB items operation's answer as moto's serializer gives it, by json.dumps; None if it cannot be."""
    result = action_result.result
    if not isinstance(result, dict) or handler._get_action() not in _DUMPED_AS_THEY_ARE:
        return None
    try:
        body = json.dumps(result)
    except (TypeError, ValueError):  # bytes of a binary attribute: the serializer encodes them
        return None
    return 200, {"Content-Type": "application/x-amz-json-1.0", **handler.response_headers}, body


def _dump_item_answers() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.serialized

    def serialized(self: DynamoHandler, action_result: Any) -> Any:
        return dumped_answer(self, action_result) or original(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign, assignment]


def _keep_method_names() -> None:
    from moto.core import responses

    original = getattr(responses, "method_names_from_class")  # noqa: B009 - moto does not export it
    setattr(responses, "method_names_from_class", functools.cache(original))  # noqa: B010
