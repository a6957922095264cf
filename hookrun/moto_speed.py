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
- it measures and compares a string set (a pipeline's run slots: one member per run not ended) by making a
  DynamoType of each member, twice per UpdateItem; it takes the strings as they are;
- it finds a service's backend of an account, several times per request, under a process-wide lock and after
  comparing the service's backends with each of moto's ~250 others (in Python); a backend already made is
  returned at once;
- its server finds the backend of each request by listing moto's package folder (a stat per service, ~250)
  and then matching ~250 URL patterns, under a lock; the answer depends only on the host it inferred, so it is
  remembered per host;
- its Step Functions interpreter builds a new boto3 Lambda client (a deep copy of botocore's event hooks) for
  every Task that invokes a function; they differ only by region (all sign as the state machine's role,
  hookrun.local_iam), and botocore clients are thread-safe, so one per region is kept, made at the first Task.
- its server (werkzeug's development server) closes the connection after every answer, so each AWS call of each
  sandbox opened a new connection, and the server a new thread for it; a request whose body has a length is read
  to its end after the answer, and its connection then serves the client's next request (keep-alive), as
  http.server does for HTTP/1.1. A chunked body still closes its connection, as werkzeug does.
None changes what moto answers. Two change when, not what:
- moto starts an interpreter thread for each execution at once; under a burst of webhooks hundreds run together,
  each Task's invocation then queues for a sandbox past its TimeoutSeconds, and the threads take the GIL from the
  webhooks' calls. Executions are admitted in start order, RUNNING_EXECUTIONS at a time (RUNNING, with no history
  yet, until then), and one more every ADMIT_EVERY_SECONDS that none ended, so long jobs never hold the rest back;
  a stopped execution that waits ends ABORTED at once. The list moto keeps of every thread it ever started is pruned
  of ended ones as each execution ends.
And the process hands the GIL over every millisecond rather than every 5: a thread
serving a webhook's call waits less behind the interpreter's threads running executions.
"""

from __future__ import annotations

import collections
import functools
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

SWITCH_INTERVAL_SECONDS = 0.001
RUNNING_EXECUTIONS = 6  # about what two cores keep busy: each run's Tasks run in sandboxes of their own
ADMIT_EVERY_SECONDS = 1.0
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
        _find_account_backends_at_once()
        _measure_sets_at_once()
        _keep_connections_alive()
        admit_executions_in_turn(ExecutionGate(RUNNING_EXECUTIONS, ADMIT_EVERY_SECONDS))
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


def _find_account_backends_at_once() -> None:
    from moto.core.base_backend import BackendDict

    original = BackendDict.__getitem__

    def getitem(self: BackendDict[Any], account_id: str) -> Any:
        if dict.__contains__(self, account_id):  # made, and listed among the instances, when first asked for
            return dict.__getitem__(self, account_id)
        return original(self, account_id)

    BackendDict.__getitem__ = getitem  # type: ignore[method-assign]


def _measure_sets_at_once() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    cast_value, size = DynamoType.cast_value, DynamoType.size

    def set_cast_value(self: DynamoType) -> Any:
        if self.type == "SS":  # each member as a DynamoType of its own: its cast value is the string
            return set(self.value)
        return cast_value.fget(self)  # type: ignore[attr-defined]

    def set_size(self: DynamoType) -> int:
        if self.type == "SS":
            return sum(bytesize(member) for member in self.value)
        return size(self)

    DynamoType.cast_value = property(set_cast_value)  # type: ignore[assignment, method-assign]
    DynamoType.size = set_size  # type: ignore[method-assign]


class ExecutionGate:
    """Admits executions in the order they came: while fewer than `limit` run, or once none was let in or ended
    for `every` seconds (the running ones are long: they must not hold the others back)."""

    def __init__(self, limit: int, every: float) -> None:
        self.limit = limit
        self.every = every
        self.running = 0
        self._changed = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()
        self._last = time.monotonic()  # the last admission or end

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._queue)

    def enter(self, stopped: Callable[[], bool]) -> bool:
        """Wait for this execution's turn: True when admitted, False if `stopped()` became true meanwhile."""
        turn = object()
        with self._changed:
            self._queue.append(turn)
            while True:
                if stopped():
                    self._queue.remove(turn)
                    self._changed.notify_all()
                    return False
                now = time.monotonic()
                due = self._last + self.every - now
                if self._queue[0] is turn and (self.running < self.limit or due <= 0):
                    self._queue.popleft()
                    self.running += 1
                    self._last = now
                    self._changed.notify_all()
                    return True
                self._changed.wait(max(due, 0.05) if self._queue[0] is turn else None)

    def leave(self) -> None:
        with self._changed:
            self.running -= 1
            self._last = time.monotonic()
            self._changed.notify_all()

    def wake(self) -> None:
        """A waiting execution was stopped: let it see so."""
        with self._changed:
            self._changed.notify_all()


class _NothingLeft:
    """The selector werkzeug reads a request's leftovers with: on a kept connection those are the next request."""

    def register(self, *args: Any) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def _keep_connections_alive() -> None:
    import selectors
    import types

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug import serving
    from werkzeug.wsgi import LimitedStream

    keeping = threading.local()  # whether the request this thread answers keeps its connection
    only_when_closing = types.SimpleNamespace(
        DefaultSelector=lambda: _NothingLeft() if getattr(keeping, "body", None) else selectors.DefaultSelector(),
        EVENT_READ=selectors.EVENT_READ,
    )
    setattr(serving, "selectors", only_when_closing)  # noqa: B010 - the one name werkzeug's run_wsgi reads it by

    original_setup = MotoRequestHandler.setup
    original_make_environ = MotoRequestHandler.make_environ
    original_run_wsgi = MotoRequestHandler.run_wsgi
    original_send_header = MotoRequestHandler.send_header

    def setup(self: Any) -> None:
        original_setup(self)
        # an answer goes out in several writes: on a kept connection Nagle would hold the last one for an ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self: Any) -> Any:
        environ = original_make_environ(self)
        length = environ.get("CONTENT_LENGTH") or "0"
        keeping.body = None
        if not environ.get("wsgi.input_terminated") and length.isdigit():  # not chunked: its end is known
            keeping.body = LimitedStream(environ["wsgi.input"], int(length))
            environ["wsgi.input"] = keeping.body
            environ["wsgi.input_terminated"] = True  # the app reads it to its end, not past it
        return environ

    def run_wsgi(self: Any) -> None:
        try:
            original_run_wsgi(self)
            if keeping.body is not None and not self.close_connection:
                keeping.body.exhaust()  # what the app left unread, so the next request starts where it should
        finally:
            keeping.body = None

    def send_header(self: Any, keyword: str, value: str) -> None:
        if getattr(keeping, "body", None) is not None and (keyword.lower(), value.lower()) == ("connection", "close"):
            return
        original_send_header(self, keyword, value)

    MotoRequestHandler.setup = setup  # type: ignore[method-assign]
    MotoRequestHandler.make_environ = make_environ  # type: ignore[method-assign]
    MotoRequestHandler.run_wsgi = run_wsgi  # type: ignore[method-assign]
    MotoRequestHandler.send_header = send_header  # type: ignore[method-assign]


def admit_executions_in_turn(gate: ExecutionGate) -> None:
    """Run each execution moto starts from now on when `gate` admits it; one stopped before that ends ABORTED."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.utils import TMP_THREADS

    original_stop = ExecutionWorker.stop

    def stopped(worker: ExecutionWorker) -> bool:
        return getattr(worker, "_hookrun_stopped", False)

    def run(worker: ExecutionWorker) -> None:
        if not gate.enter(lambda: stopped(worker)):
            return
        if stopped(worker):  # between its admission and now
            gate.leave()
            return
        try:
            worker._execution_logic()  # type: ignore[no-untyped-call]
        finally:
            gate.leave()
            TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]

    def start(self: ExecutionWorker) -> None:
        threading.Thread(target=run, args=(self,), name="execution", daemon=True).start()

    def stop(self: ExecutionWorker, stop_date: Any, error: str | None, cause: str | None) -> None:
        if self.env is not None:
            original_stop(self, stop_date=stop_date, error=error, cause=cause)
            return
        execution = getattr(self._execution_communication, "execution", None)
        if execution is not None:
            execution.exec_status, execution.stop_date = ExecutionStatus.ABORTED, stop_date
        self._hookrun_stopped = True  # type: ignore[attr-defined]
        gate.wake()

    ExecutionWorker.start = start  # type: ignore[method-assign]
    ExecutionWorker.stop = stop  # type: ignore[method-assign]
