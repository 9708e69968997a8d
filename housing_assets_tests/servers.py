"""Helpers for tests that start real servers: a free loopback port, waiting, stopping a tree.

Every server is started in a session of its own (`start_new_session=True`), so stopping its
process group also reaches the processes it started (run workers, gRPC servers, backends).
"""

import os
import signal
import socket
import subprocess
import time
import urllib.request


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
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20) -> None:
    """`sig` to the process group, then SIGKILL to whatever is left of it after `grace` s;
    returns once no process of the group is left (at most 30 s more)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, e.g. a run process
    except ProcessLookupError:
        pass
    process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)  # a killed process under load can take a moment to go


def group_alive(pgid: int) -> bool:
    """Whether a process (not a zombie waiting to be reaped) is left in process group `pgid`."""
    listing = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
    return any(
        int(group) == pgid and not stat.startswith("Z")
        for group, stat in (line.split(None, 1) for line in listing.splitlines() if line.strip())
    )
