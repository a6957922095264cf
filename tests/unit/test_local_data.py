"""The local stack's data folder: atomic writes, one stack per folder, and every way a saved state cannot load."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrun.local_data import FORMAT_VERSION, ChangeTracker, DataFolder, DataFolderError, Secret, State


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[DataFolder]:
    data = DataFolder(tmp_path / "data")
    yield data
    data.close()


def saved(items: int = 1) -> State:
    return State(
        webhookToken="hr_" + "t" * 43,
        tables={"table": [{"pk": {"S": f"K#{n}"}, "sk": {"S": "K"}} for n in range(items)]},
        secrets=[Secret(name="hookrun/x/pipelines/demo/webhook-signing-secret", secretString="s3cret")],
    )


def test_a_new_folder_has_no_state_and_is_private(folder: DataFolder) -> None:
    assert folder.open() is None
    assert stat.S_IMODE(folder.directory.stat().st_mode) == 0o700


def test_what_is_written_is_what_the_next_start_loads(folder: DataFolder) -> None:
    folder.open()
    folder.write(saved(3))
    folder.close()

    assert DataFolder(folder.directory).open() == saved(3)


def test_the_state_file_is_readable_by_its_owner_only(folder: DataFolder) -> None:
    folder.open()
    folder.write(saved())

    assert stat.S_IMODE(folder.state_file.stat().st_mode) == 0o600


def test_a_write_leaves_no_temporary_file(folder: DataFolder) -> None:
    folder.open()
    folder.write(saved())
    folder.write(saved(2))

    assert sorted(path.name for path in folder.directory.iterdir()) == ["lock", "state.json"]


def test_a_write_that_fails_keeps_the_previous_state_whole(folder: DataFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.open()
    folder.write(saved(1))

    def no_space(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        folder.write(saved(5))
    monkeypatch.undo()

    folder.close()
    assert DataFolder(folder.directory).open() == saved(1)
    assert not list(folder.directory.glob(".*.tmp"))


def test_fresh_ignores_the_saved_state(folder: DataFolder) -> None:
    folder.open()
    folder.write(saved())
    folder.close()

    assert DataFolder(folder.directory, fresh=True).open() is None


def test_a_second_stack_on_the_same_folder_is_refused(folder: DataFolder) -> None:
    folder.open()

    with pytest.raises(DataFolderError) as refused:
        DataFolder(folder.directory).open()

    assert refused.value.code == "DATA_FOLDER_IN_USE"
    assert "--data" in str(refused.value)


def test_the_folder_is_free_again_once_closed(folder: DataFolder) -> None:
    folder.open()
    folder.close()

    other = DataFolder(folder.directory)
    assert other.open() is None
    other.close()


def test_a_folder_that_cannot_be_made_is_data_folder_unusable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder", "utf-8")

    with pytest.raises(DataFolderError) as refused:
        DataFolder(tmp_path / "file" / "data").open()

    assert refused.value.code == "DATA_FOLDER_UNUSABLE"


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"format": "hookrun-local-data", "version": 1, "tables": {"t": [',
        "[]",
        '{"format": "something else", "version": 1}',
        '{"format": "hookrun-local-data", "version": 1, "tables": "not a map"}',
        '{"format": "hookrun-local-data", "version": 1, "unknown": true}',
    ],
    ids=["empty", "cut-short", "not-an-object", "other-format", "wrong-field-type", "unknown-field"],
)
def test_a_state_that_cannot_load_is_data_folder_corrupt_naming_fresh(folder: DataFolder, content: str) -> None:
    folder.directory.mkdir()
    folder.state_file.write_text(content, "utf-8")

    with pytest.raises(DataFolderError) as refused:
        folder.open()

    assert refused.value.code == "DATA_FOLDER_CORRUPT"
    assert "--fresh" in str(refused.value) and str(folder.state_file) in str(refused.value)


def test_another_format_version_is_data_folder_unsupported(folder: DataFolder) -> None:
    folder.directory.mkdir()
    folder.state_file.write_text(json.dumps({"format": "hookrun-local-data", "version": FORMAT_VERSION + 1}), "utf-8")

    with pytest.raises(DataFolderError) as refused:
        folder.open()

    assert refused.value.code == "DATA_FOLDER_UNSUPPORTED"
    assert "--fresh" in str(refused.value)


def test_a_refused_folder_is_not_left_locked(folder: DataFolder) -> None:
    folder.directory.mkdir()
    folder.state_file.write_text("garbage", "utf-8")
    with pytest.raises(DataFolderError):
        folder.open()

    fresh = DataFolder(folder.directory, fresh=True)
    assert fresh.open() is None
    fresh.close()


@pytest.mark.parametrize(
    "target",
    [
        "DynamoDB_20120810.GetItem",
        "DynamoDB_20120810.Query",
        "AWSStepFunctions.DescribeExecution",
        "secretsmanager.ListSecrets",
    ],
)
def test_reads_change_nothing(target: str) -> None:
    tracker = ChangeTracker()

    tracker.request_done({"HTTP_X_AMZ_TARGET": target})

    assert tracker.take() is False


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem"},
        {"HTTP_X_AMZ_TARGET": "AWSStepFunctions.StartExecution"},
        {"HTTP_X_AMZ_TARGET": "secretsmanager.PutSecretValue"},
        {"PATH_INFO": "/2015-03-31/functions/f/invocations"},
    ],
    ids=["update-item", "start-execution", "put-secret", "lambda-invoke"],
)
def test_any_other_request_may_change_something_once(environ: dict[str, str]) -> None:
    tracker = ChangeTracker()

    tracker.request_done(environ)

    assert (tracker.take(), tracker.take()) == (True, False)
