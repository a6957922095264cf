"""The local stack's data folder: moto's state kept across restarts of `hookrun dev`.

Once a second, if moto took a request that may have changed something, a background thread reads the state from
moto's backends in this process (the table's items, the Secrets Manager secrets, the state machine's executions)
and writes it, with the demo webhook's token, as one JSON file: a temporary file, fsync, rename, fsync of the
folder. A crash or kill -9 at any moment leaves the previous or the new file whole, and loses at most the last
second. The next start loads it (or refuses, naming `--fresh`, if it cannot) before it creates anything. The file
is put together from each item's and each ended execution's JSON as last dumped, so a snapshot costs what changed
since the last one, not the whole table under the GIL.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hookrun.template import ROOT

if TYPE_CHECKING:
    from domain.workflow import WorkflowPorts

DEFAULT_DATA_FOLDER = ROOT / ".hookrun"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
FORMAT: Literal["hookrun-local-data"] = "hookrun-local-data"
FORMAT_VERSION = 1
SNAPSHOT_INTERVAL_SECONDS = 1.0
# moto requests that change nothing, by the operation named in X-Amz-Target (e.g. DynamoDB_20120810.GetItem)
_READ_OPERATION = re.compile(r"\.(Get|BatchGet|Query|Scan|Describe|List)[A-Za-z]*$")
_CAPTURE_ATTEMPTS = 5
KEEP_FINISHED_HISTORIES = 100  # finished executions whose full history moto keeps in memory; older ones are records

log = logging.getLogger("local.data")


class DataFolderError(Exception):
    """The data folder cannot be used; `code` says why, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Secret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    secretString: str | None = None  # noqa: N815 - the API's field names
    secretBinary: str | None = None  # noqa: N815
    description: str | None = None


class ExecutionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    input: str
    status: str
    startDate: float  # noqa: N815 - epoch seconds
    stopDate: float | None = None  # noqa: N815


class State(BaseModel):
    """What the data folder's state.json holds: everything moto knows that a restart must not lose."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["hookrun-local-data"] = FORMAT
    version: int = FORMAT_VERSION
    savedAt: float = 0.0  # noqa: N815
    webhookToken: str = ""  # noqa: N815 - the demo webhook's URL must stay the same for the local user
    tables: dict[str, list[dict[str, Any]]] = {}
    secrets: list[Secret] = []
    executions: list[ExecutionRecord] = []


class DataFolder:
    """One stack's data folder: locked while the stack runs, state.json read at start and written atomically."""

    def __init__(self, directory: Path, *, fresh: bool = False) -> None:
        self.directory = directory
        self.fresh = fresh
        self._lock: int | None = None

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    def open(self) -> State | None:
        """Take the folder (creating it) and load its state: None if there is none or `fresh` was asked for."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataFolderError(
                "DATA_FOLDER_UNUSABLE",
                f"the data folder {self.directory} cannot be used: {exc.strerror or exc}. "
                "Pass another with --data DIR.",
            ) from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(lock)
            raise DataFolderError(
                "DATA_FOLDER_IN_USE",
                f"another hookrun dev is using the data folder {self.directory}. Stop it, or pass another with "
                "--data DIR.",
            ) from exc
        self._lock = lock
        if self.fresh or not self.state_file.exists():
            return None
        try:
            return self._load()
        except DataFolderError:
            self.close()
            raise

    def _load(self) -> State:
        try:
            raw = self.state_file.read_bytes()
        except OSError as exc:
            raise self._corrupt(f"it cannot be read ({exc.strerror or exc})") from exc
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise self._corrupt(f"it is not valid JSON ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise self._corrupt("it is not a hookrun data file")
        if document.get("version") != FORMAT_VERSION:
            raise DataFolderError(
                "DATA_FOLDER_UNSUPPORTED",
                f"{self.state_file} has format version {document.get('version')!r}; this hookrun reads version "
                f"{FORMAT_VERSION}. Start with --fresh to begin empty (its data is replaced), or --data DIR to use "
                "another folder.",
            )
        try:
            return State.model_validate(document)
        except ValidationError as exc:
            raise self._corrupt(f"{exc.error_count()} field(s) do not fit the format") from exc

    def _corrupt(self, why: str) -> DataFolderError:
        return DataFolderError(
            "DATA_FOLDER_CORRUPT",
            f"the data folder's {self.state_file} cannot be loaded: {why}. Start with --fresh to begin empty "
            "(its data is replaced), or --data DIR to use another folder.",
        )

    def write(self, state: State | bytes) -> None:
        """Replace state.json in one step: a crash leaves the old file or the new one, never a part of either."""
        temporary = self.directory / f".{STATE_FILE}.{os.getpid()}.tmp"
        data = state if isinstance(state, bytes) else state.model_dump_json().encode()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None


class ChangeTracker:
    """Whether moto took a request that may have changed its state since the last snapshot."""

    def __init__(self) -> None:
        self._changed = threading.Event()

    def request_done(self, environ: dict[str, Any]) -> None:
        """Called after moto answered a request: anything but a read may have changed something."""
        if not _READ_OPERATION.search(environ.get("HTTP_X_AMZ_TARGET", "")):
            self._changed.set()

    def mark(self) -> None:
        self._changed.set()

    def take(self) -> bool:
        """True if something may have changed since the last call (and forget it: the snapshot follows)."""
        changed = self._changed.is_set()
        self._changed.clear()
        return changed


_tracker_lock = threading.Lock()
_trackers: list[ChangeTracker] = []
# held by every DynamoDB write in moto and by the snapshot's read of the items, so no write is caught half-done
dynamodb_writes = threading.RLock()
# told (under dynamodb_writes) the table and key of every item written, so a snapshot re-reads only those
_item_watchers: list[Callable[[str, dict[str, Any]], None]] = []


def watch_moto(tracker: ChangeTracker) -> Callable[[], None]:
    """Let `tracker` see every request moto answers in this process; returns the function that stops it."""
    _install_moto_hooks()
    with _tracker_lock:
        _trackers.append(tracker)

    def unwatch() -> None:
        with _tracker_lock:
            if tracker in _trackers:
                _trackers.remove(tracker)

    return unwatch


def _install_moto_hooks() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original_call = DomainDispatcherApplication.__call__
    if getattr(original_call, "_hookrun_watched", False):
        return

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return original_call(self, environ, start_response)
        finally:
            with _tracker_lock:
                trackers = list(_trackers)
            for tracker in trackers:
                tracker.request_done(environ)

    call._hookrun_watched = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]
    # a transaction's writes go through the three others, which say what they wrote
    DynamoDBBackend.transact_write_items = _under_write_lock(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    DynamoDBBackend.put_item = _under_write_lock(DynamoDBBackend.put_item, "item_attrs")  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _under_write_lock(DynamoDBBackend.update_item, "key")  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = _under_write_lock(DynamoDBBackend.delete_item, "key")  # type: ignore[method-assign]


def _under_write_lock(method: Callable[..., Any], item_argument: str | None = None) -> Callable[..., Any]:
    """`method` of moto's DynamoDB backend under the write lock, telling the watchers which item it wrote."""

    def locked(backend: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        with dynamodb_writes:
            try:
                return method(backend, table_name, *args, **kwargs)
            finally:
                if item_argument is not None:
                    attributes = args[0] if args else kwargs[item_argument]
                    for watcher in _item_watchers:
                        watcher(table_name, attributes)

    return locked


def _key_names(table: Any) -> list[str]:
    return [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])


def _key_id(table: Any, attributes: dict[str, Any]) -> str:
    """One string per item key, from the item's (or its key's) attributes in DynamoDB JSON."""
    return json.dumps([attributes.get(name) for name in _key_names(table)], sort_keys=True)


class MotoState:
    """Reads the stack's state out of moto's backends in this process, and puts a saved state back."""

    def __init__(self, account_id: str, region: str, table_names: list[str], state_machine_arn: str) -> None:
        self._account_id = account_id
        self._region = region
        self._table_names = table_names
        self._state_machine_arn = state_machine_arn
        # the items as last read (table -> key -> their DynamoDB JSON as text), and the keys written since
        self._item_texts: dict[str, dict[str, str]] = {}  # as text: a seventh of the memory of the dicts
        # each execution's record's JSON, by name, with the (status, stop date) it was dumped at
        self._execution_texts: dict[str, tuple[tuple[str, Any], str]] = {}
        self._written: dict[str, list[dict[str, Any]]] = {}
        _install_moto_hooks()
        with dynamodb_writes:
            _item_watchers.append(self._item_written)

    def close(self) -> None:
        """Stop following writes."""
        with dynamodb_writes:
            if self._item_written in _item_watchers:
                _item_watchers.remove(self._item_written)

    def _item_written(self, table_name: str, attributes: dict[str, Any]) -> None:
        if table_name in self._item_texts:
            self._written.setdefault(table_name, []).append(attributes)

    def _dynamodb(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[self._account_id][self._region]

    def _secretsmanager(self) -> Any:
        from moto.secretsmanager.models import secretsmanager_backends

        return secretsmanager_backends[self._account_id][self._region]

    def _state_machine(self) -> Any:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        return stepfunctions_parser_backends[self._account_id][self._region].describe_state_machine(
            self._state_machine_arn
        )

    def capture(self, webhook_token: str) -> State:
        """The state as it is now; retried if moto changed a collection while it was being read."""
        for attempt in range(_CAPTURE_ATTEMPTS):
            try:
                state = State(
                    savedAt=time.time(),
                    webhookToken=webhook_token,
                    tables={name: self._items(name) for name in self._table_names},
                    secrets=list(self._secrets()),
                    executions=list(self._executions()),
                )
                self.compact_finished_executions()
                return state
            except RuntimeError:  # "changed size during iteration": a request was served meanwhile
                if attempt == _CAPTURE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _items(self, table_name: str) -> list[dict[str, Any]]:
        """Every item of the table: read in full the first time, then only those written since."""
        self._read_items(table_name)
        return [json.loads(text) for text in self._item_texts[table_name].values()]

    def _read_items(self, table_name: str) -> None:
        from moto.core.exceptions import JsonRESTError

        backend = self._dynamodb()
        table = backend.get_table(table_name)
        with dynamodb_writes:
            texts = self._item_texts.get(table_name)
            if texts is None:
                items = (item.to_json()["Attributes"] for item in table.all_items())
                texts = self._item_texts[table_name] = {_key_id(table, item): json.dumps(item) for item in items}
            for attributes in self._written.pop(table_name, []):
                if not all(isinstance(attributes.get(name), dict) for name in _key_names(table)):
                    continue  # a write moto refused: its key was not even whole
                try:
                    item = backend.get_item(table_name, {name: attributes[name] for name in _key_names(table)})
                except JsonRESTError:  # a key of the wrong type: moto refused that write too
                    continue
                key = _key_id(table, attributes)
                if item is None:
                    texts.pop(key, None)
                else:
                    texts[key] = json.dumps(item.to_json()["Attributes"])

    def snapshot(self, webhook_token: str) -> bytes:
        """What `capture` gives, as state.json's bytes: put together from the JSON of each item and each ended
        execution as last dumped, so only what changed since the last snapshot is dumped again."""
        for attempt in range(_CAPTURE_ATTEMPTS):
            try:
                for name in self._table_names:
                    self._read_items(name)
                tables = {name: list(self._item_texts[name].values()) for name in self._table_names}
                secrets = [secret.model_dump_json() for secret in self._secrets()]
                executions = [self._execution_text(execution) for execution in self.executions()]
                break
            except RuntimeError:  # "changed size during iteration": a request was served meanwhile
                if attempt == _CAPTURE_ATTEMPTS - 1:
                    raise
        self.compact_finished_executions()
        head = State(savedAt=time.time(), webhookToken=webhook_token)
        fields = head.model_dump_json(exclude={"tables", "secrets", "executions"})[1:-1]
        listed = ",".join(f"{json.dumps(name)}:[{','.join(texts)}]" for name, texts in tables.items())
        text = (
            f'{{{fields},"tables":{{{listed}}},"secrets":[{",".join(secrets)}],"executions":[{",".join(executions)}]}}'
        )
        return text.encode()

    def _execution_text(self, execution: Any) -> str:
        # a record changes only with its status and stop date: under a load, hundreds of RUNNING executions (most
        # waiting to be admitted) were dumped again every second
        state = (str(execution.status), execution.stop_date)
        kept = self._execution_texts.get(execution.name)
        if kept is None or kept[0] != state:
            kept = self._execution_texts[execution.name] = (state, _record_of(execution).model_dump_json())
        return kept[1]

    def _secrets(self) -> Iterator[Secret]:
        from moto.secretsmanager.exceptions import SecretsManagerClientError

        backend = self._secretsmanager()
        for name, secret in list(dict.items(backend.secrets)):
            if secret.deleted_date is not None:
                continue
            try:
                value = backend.get_secret_value(name, None, "AWSCURRENT")
            except SecretsManagerClientError:  # no current value: nothing to keep
                continue
            yield Secret(
                name=name,
                secretString=value.get("SecretString"),
                secretBinary=value.get("SecretBinary"),
                description=secret.description,
            )

    def executions(self) -> list[Any]:
        """The state machine's executions as moto holds them (running, ended and restored)."""
        return list(self._state_machine().executions)

    def _executions(self) -> Iterator[ExecutionRecord]:
        for execution in self.executions():
            yield _record_of(execution)

    def restore(self, state: State) -> None:
        """Put the saved items, secrets and (finished, as records only) executions back into a new moto."""
        dynamodb = self._dynamodb()
        for table_name, items in state.tables.items():
            if table_name in self._table_names:
                for item in items:
                    dynamodb.put_item(table_name, item)
        secrets = self._secretsmanager()
        for secret in state.secrets:
            secrets.create_secret(
                name=secret.name,
                secret_string=secret.secretString,
                secret_binary=secret.secretBinary,
                description=secret.description,
                tags=None,
                kms_key_id=None,
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        self._restore_executions(state.executions)

    def _restore_executions(self, records: list[ExecutionRecord]) -> None:
        """Executions come back as records, so a replayed delivery still finds its run's name taken.

        One that was running when the stack stopped comes back FAILED: nothing runs it any more.
        """
        state_machine = self._state_machine()
        for record in records:
            state_machine.executions.append(self._record_execution(state_machine, record))

    def _record_execution(self, state_machine: Any, record: ExecutionRecord) -> Any:
        """An execution as a record only (name, input, status, dates): no history, no interpreter."""
        from datetime import UTC, datetime

        from moto.stepfunctions.models import Execution

        execution = Execution(
            region_name=self._region,
            account_id=self._account_id,
            state_machine_name=state_machine.name,
            execution_name=record.name,
            state_machine_arn=state_machine.arn,
            execution_input=record.input,
        )
        execution.start_date = datetime.fromtimestamp(record.startDate, UTC)
        execution.stop_date = datetime.fromtimestamp(record.stopDate or time.time(), UTC)
        execution.status = record.status if record.status != "RUNNING" else "FAILED"
        return execution

    def compact_finished_executions(self, keep: int = KEEP_FINISHED_HISTORIES) -> int:
        """Keep the history of the newest `keep` finished executions only; older ones become records.

        moto keeps every execution's history and interpreter state forever (~200 KiB a run); a record keeps what
        the stack reads of an old execution: its name (a replayed delivery still finds it taken), input, status
        and dates, as a restart from the data folder does. Returns how many were compacted.
        """
        from moto.stepfunctions.models import Execution

        executions = self._state_machine().executions
        finished = [
            (index, execution)
            for index, execution in enumerate(list(executions))
            if execution.stop_date is not None and str(execution.status) != "RUNNING"
        ]
        finished.sort(key=lambda pair: pair[1].stop_date)
        compacted = 0
        for index, execution in finished[: max(0, len(finished) - keep)]:
            if type(execution) is Execution:
                continue  # a record already
            record = ExecutionRecord(
                name=execution.name,
                input=execution.execution_input or "{}",
                status=str(execution.status),
                startDate=execution.start_date.timestamp(),
                stopDate=execution.stop_date.timestamp(),
            )
            if executions[index] is execution:  # the list only grows; an index stays that execution's
                executions[index] = self._record_execution(self._state_machine(), record)
                compacted += 1
        return compacted


def _record_of(execution: Any) -> ExecutionRecord:
    """What the data folder keeps of a moto execution."""
    return ExecutionRecord(
        name=execution.name,
        input=execution.execution_input or "{}",
        status=str(execution.status),
        startDate=execution.start_date.timestamp(),
        stopDate=execution.stop_date.timestamp() if execution.stop_date else None,
    )


class Snapshots:
    """The background thread that writes the state once a second while it changes, and once more at the end."""

    def __init__(self, folder: DataFolder, capture: Callable[[], State | bytes]) -> None:
        self._folder = folder
        self._capture = capture
        self._tracker = ChangeTracker()
        self._unwatch = watch_moto(self._tracker)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="local-data", daemon=True)

    def start(self) -> None:
        """Write the state now (a kill right after start keeps what start made), then every second it changed."""
        self._folder.write(self._capture())
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.wait(SNAPSHOT_INTERVAL_SECONDS):
            self._write_if_changed()

    def _write_if_changed(self) -> None:
        if not self._tracker.take():
            return
        try:
            self._folder.write(self._capture())
        except Exception:
            self._tracker.mark()  # try again in a second
            log.exception("could not write the local stack's state to %s", self._folder.state_file)

    def stop(self) -> None:
        """Stop the thread and write what changed since its last snapshot."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._write_if_changed()
        self._unwatch()


STOPPED_ERROR = "LOCAL_STACK_STOPPED"
STOPPED_CAUSE = "the local stack stopped while this run was in flight; nothing runs it any more"


def fail_runs_in_flight(ports: WorkflowPorts, state: State, table_name: str) -> int:
    """Record FAILED / LOCAL_STACK_STOPPED every run of `state` that had not ended; how many there were.

    Recorded runs that had not ended, and runs whose execution had started but not recorded them yet (these are
    recorded first, with their delivery, as the workflow's first step would have).
    """
    from adapters.runs import run_view_from_items
    from domain.runs import TERMINAL
    from domain.workflow import RunNotRecorded, fail_recorded_run, record_run_started, started_run

    recorded = {
        view.run_id: view.status for item in state.tables.get(table_name, []) if (view := run_view_from_items([item]))
    }
    unfinished = [run_id for run_id, status in recorded.items() if status not in TERMINAL]
    unrecorded = [e for e in state.executions if e.status == "RUNNING" and e.name not in recorded]
    for execution in unrecorded:
        try:
            run = started_run(ports, json.loads(execution.input or "{}"))
        except RunNotRecorded:  # its request is gone: nothing to record it with
            continue
        record_run_started(ports, run)
        unfinished.append(run.run_id)
    for run_id in unfinished:
        fail_recorded_run(ports, run_id, STOPPED_ERROR, STOPPED_CAUSE)
    return len(unfinished)
