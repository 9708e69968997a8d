"""Starting and stopping servers: a free loopback port, waiting for an answer, stopping a tree.

Shared by `housing-dev`, the end-to-end tests and the benchmarks. Every server is started in a
session of its own (`start_group`), so stopping its process group also reaches the processes
it started (run workers, gRPC servers, backends).
"""

import os
import signal
import socket
import subprocess
import time
import urllib.request


def _default_sigint() -> None:
    # A shell that starts us in the background ignores SIGINT, and children inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_group(command: list[str], env: dict[str, str], cwd=None, **popen) -> subprocess.Popen:
    """Start `command` as the leader of a new process group (see the module docstring)."""
    return subprocess.Popen(
        command, env=env, cwd=cwd, start_new_session=True, preexec_fn=_default_sigint, **popen
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout: float, what: str, interval: float = 2.0):
    """Poll until `predicate()` is truthy and return it; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_until_answers(url: str, timeout: float, processes=()) -> None:
    """Wait until `url` answers; fail if one of `processes` exits first or after `timeout` s."""

    def up() -> bool:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a server exited while starting; see its log ({url})")
        return answers(url)

    wait_for(up, timeout, f"{url} to answer", interval=1.0)


def stop_groups(
    processes: list[subprocess.Popen], sig: int = signal.SIGTERM, grace: float = 20
) -> None:
    """`sig` to each process group, then SIGKILL to whatever is left after `grace` s; returns
    once no process of the groups is left (at most 30 s more)."""
    for process in processes:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, e.g. a run process
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
    deadline = time.monotonic() + 30
    for process in processes:
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)  # a killed process under load can take a moment to go


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20) -> None:
    stop_groups([process], sig, grace)


def group_alive(pgid: int) -> bool:
    """Whether a process (not a zombie waiting to be reaped) is left in process group `pgid`."""
    listing = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
    return any(
        int(group) == pgid and not stat.startswith("Z")
        for group, stat in (line.split(None, 1) for line in listing.splitlines() if line.strip())
    )
