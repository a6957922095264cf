"""ShellExecutor: a real shell, fail-fast, timeouts, output tails."""

from __future__ import annotations

from adapters.shell import ShellExecutor


def test_lines_run_in_order_with_the_given_environment() -> None:
    result = ShellExecutor().execute(['echo "abc is $abc"', "echo second"], {"abc": "456"}, 10)
    assert (result.exit_code, result.output, result.timed_out) == (0, "abc is 456\nsecond\n", False)


def test_the_first_failing_line_stops_the_script() -> None:
    result = ShellExecutor().execute(["echo one", "false", "echo never"], {}, 10)
    assert (result.exit_code, result.output) == (1, "one\n")


def test_a_failing_command_in_a_pipe_fails_the_script() -> None:
    assert ShellExecutor().execute(["false | cat"], {}, 10).exit_code == 1


def test_stderr_is_part_of_the_output() -> None:
    assert ShellExecutor().execute(["echo oops >&2"], {}, 10).output == "oops\n"


def test_timeout_kills_the_script_and_its_children() -> None:
    result = ShellExecutor().execute(["sleep 30 &", "echo started", "wait"], {}, 1)
    assert result.timed_out and result.exit_code is None
    assert result.output == "started\n"
    assert result.duration_ms < 10_000


def test_huge_output_keeps_only_the_tail() -> None:
    result = ShellExecutor().execute(["head -c 5000000 /dev/zero | tr '\\0' x", "echo; echo END"], {}, 30)
    assert result.output.endswith("END\n")
    assert result.dropped_bytes > 4_000_000
    assert len(result.output) < 80_000


def test_the_function_environment_does_not_leak_into_jobs(monkeypatch: object) -> None:
    import os

    os.environ["AWS_SECRET_ACCESS_KEY_PROBE"] = "leak"
    try:
        assert ShellExecutor().execute(["echo ${AWS_SECRET_ACCESS_KEY_PROBE:-none}"], {}, 10).output == "none\n"
    finally:
        del os.environ["AWS_SECRET_ACCESS_KEY_PROBE"]


def test_reserved_names_never_reach_the_shell() -> None:
    result = ShellExecutor().execute(['echo "[$FOO]"'], {"BASH_ENV": "/dev/null; echo injected", "FOO": "ok"}, 10)
    assert result.output == "[ok]\n"
