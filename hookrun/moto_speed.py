"""Take work off moto's hot paths, so the local stack's one moto process keeps up with webhooks while runs execute.

moto serves every AWS call of every sandbox in this process, under one GIL. Some of its habits cost more than the
calls themselves (measured with py-spy under `make bench`):
- its Step Functions interpreter parses the state machine's definition with ANTLR at every execution start (half
  of the process's CPU under load); the parse tree of a definition is kept, and each execution still builds its
  own evaluation components from it;
- it compiles each JSONPath (`InputPath`, `ResultPath`, ...) with a new yacc parser each time it evaluates one;
  compiled paths are kept (they hold no state of an evaluation);
- its DynamoDB Query on a table's key sorts every item of the table and then keeps those of the one partition
  asked for, so each query grows slower with every run kept; it gets only that partition's items to sort;
- its server finds the backend of each request by listing moto's package folder (a stat per service, ~250)
  and then matching ~250 URL patterns, under a lock; the answer depends only on the host it inferred, so it is
  remembered per host;
- its Step Functions interpreter builds a new boto3 Lambda client (a deep copy of botocore's event hooks) for
  every Task that invokes a function; its clients differ only by region, and botocore clients are thread-safe,
  so one per region is kept.
Neither changes what moto answers.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's server dispatcher and Step Functions' Lambda client; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _keep_parse_trees()
        _keep_json_paths()
        _remember_backends()
        _reuse_lambda_clients()
        _query_one_partition()
        _installed = True


def _keep_parse_trees() -> None:
    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original = asl_parser.AmazonStateLanguageParser.parse
    trees: dict[str, Any] = {}

    def parse(definition: str) -> tuple[Any, Any]:
        tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)  # raises on a syntax error: only good trees are kept
            trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

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
        # moto's own signs every call with the same fixed keys, whatever the state's credentials
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
