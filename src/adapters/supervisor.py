"""Runs one job's script as its own process and leaves nothing of it behind.

Started by the shell adapter as `python -I -S supervisor.py CONFIG -- ARGV...` with the job's environment; standard
library only, so it starts fast and reads nothing of the function's code. It:

- becomes a child subreaper (Linux), so whatever the script starts (`&`, `setsid`, a double fork) stays its
  descendant, and kills every descendant when the script ends or times out: no process outlives its job;
- runs the script under limits (data memory, file size, no core files; processes when it runs as its own user),
  as the unprivileged `nobody` when it is root, with no new privileges, and, where the kernel has Landlock, able to
  write only its working directory and unable to trace, read the memory or environment of, or signal any process
  outside its own job;
- writes `{"exitCode", "timedOut", "stopped"}` as JSON to the result file descriptor.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import select
import signal
import sys
import time
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
# Landlock's system calls have the same numbers on every architecture (asm-generic, from Linux 5.13)
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_WRITE_FILE = 1 << 1
_WRITE_RIGHTS_V1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make anything
_REFER = 1 << 13  # ABI 2
_TRUNCATE = 1 << 14  # ABI 3
_SCOPE_ABSTRACT_UNIX_SOCKET_AND_SIGNAL = (1 << 0) | (1 << 1)  # ABI 6
_WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty")
_UNPRIVILEGED_USER = "nobody"
_STOP_EXIT_CODE = 128 + signal.SIGKILL


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _RulesetAttrScoped(ctypes.Structure):
    _fields_ = [*_RulesetAttr._fields_, ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl  # noqa: B018 - Linux only: elsewhere the supervisor runs without what prctl gives
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def _prctl(option: int, value: int) -> bool:
    return _LIBC is not None and _LIBC.prctl(option, value, 0, 0, 0) == 0


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 without Landlock."""
    if _LIBC is None:
        return 0
    return max(0, int(_LIBC.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)))


def _landlock(writable_dir: str) -> None:
    """Let this process and its children write only beneath `writable_dir` (and to a few devices).

    Landlock also confines ptrace (and so /proc/PID/environ and mem) to the job's own processes; from ABI 6, signals
    and abstract UNIX sockets too. A kernel without Landlock leaves the job unconfined here (the uid still applies).
    """
    abi = landlock_abi()
    if abi < 1:
        return
    write_rights = _WRITE_RIGHTS_V1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr: ctypes.Structure
    if abi >= 6:
        attr = _RulesetAttrScoped(write_rights, 0, _SCOPE_ABSTRACT_UNIX_SOCKET_AND_SIGNAL)
    else:
        attr = _RulesetAttr(write_rights, 0)
    ruleset = _LIBC.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    file_rights = _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
    rules = [(writable_dir, write_rights)] + [(path, file_rights) for path in _WRITABLE_DEVICES]
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # a device this system lacks
        try:
            rule = _PathBeneathAttr(rights, fd)
            if _LIBC.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        finally:
            os.close(fd)
    if _LIBC.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0):
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(ruleset)


def _apply_limits(limits: dict[str, int], own_user: bool) -> None:
    import resource

    settings = [
        (resource.RLIMIT_DATA, limits["memoryBytes"]),
        (resource.RLIMIT_FSIZE, limits["fileBytes"]),
        (resource.RLIMIT_CORE, 0),
    ]
    if own_user:  # the count is per user: under the stack's own user it would count the stack's threads too
        settings.append((resource.RLIMIT_NPROC, limits["processes"]))
    for which, value in settings:
        resource.setrlimit(which, (value, value))


def _start_script(config: dict[str, Any], argv: list[str]) -> int:
    """Fork the script's process: limits, user, no new privileges, Landlock, then exec. Returns its pid."""
    workdir: str = config["workdir"]
    user = pwd.getpwnam(_UNPRIVILEGED_USER) if os.geteuid() == 0 else None
    if user is not None:
        os.chown(workdir, user.pw_uid, user.pw_gid)
    pid = os.fork()
    if pid:
        return pid
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()
        os.chdir(workdir)
        _apply_limits(config["limits"], own_user=user is not None)
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        _landlock(workdir)
        os.execv(argv[0], argv)  # noqa: S606  # nosec B606 # the argv of the shell that runs the script
    except BaseException as exc:  # the child must never return into the supervisor
        os.write(2, f"hookrun: the job could not start: {exc}\n".encode())
    os._exit(126)


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, from /proc (the children lists of /proc are not in every kernel)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] != b"Z":  # a zombie has ended already: reaping collects it
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    waiting = [root]
    while waiting:
        found.extend(below := children.get(waiting.pop(), []))
        waiting.extend(below)
    return found


def _reap(script: int, statuses: dict[int, int]) -> bool:
    """Collect every child that has ended; True while any child is left. The script's status is kept."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if pid == script:
            statuses[pid] = status


def _stop_everything(script: int, statuses: dict[int, int]) -> int:
    """Kill every descendant until none is left (a process forking meanwhile is caught by the next round)."""
    stopped: set[int] = set()
    while True:
        for pid in _descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                if pid != script:
                    stopped.add(pid)
        if not _reap(script, statuses):
            return len(stopped)
        time.sleep(0.005)


def _wait_for(script: int, deadline: float, stop: list[bool], statuses: dict[int, int]) -> bool:
    """Wait until the script ends (True) or the deadline passes or a stop is asked (False), reaping as it goes."""
    try:
        pidfd: int | None = os.pidfd_open(script)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while script not in statuses:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop[0]:
                return False
            if pidfd is not None:
                with contextlib.suppress(InterruptedError):
                    select.select([pidfd], [], [], min(remaining, 1.0))
            else:
                time.sleep(min(remaining, 0.02))
            _reap(script, statuses)
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def main(arguments: list[str]) -> int:
    config: dict[str, Any] = json.loads(arguments[0])
    argv = arguments[2:]  # after the "--"
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # the caller died: stop the job rather than orphan it
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    deadline = time.monotonic() + config["timeoutSeconds"]
    statuses: dict[int, int] = {}
    script = _start_script(config, argv)
    ended = _wait_for(script, deadline, stop, statuses)
    stopped = _stop_everything(script, statuses)
    exit_code = os.waitstatus_to_exitcode(statuses[script]) if script in statuses else -signal.SIGKILL
    result = {
        "exitCode": exit_code if exit_code >= 0 else 128 - exit_code,
        "timedOut": not ended and not stop[0],
        "stopped": stopped if ended else 0,
    }
    with os.fdopen(config["resultFd"], "w") as out:
        json.dump(result, out)
    return 0 if ended else _STOP_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
