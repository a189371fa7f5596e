"""compute.lifeline: the embedded scheduler (a subprocess of the server) exits when the
server is SIGKILLed, instead of lingering as an orphan; the workers die with it too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.cluster

SERVER = """
import os, sys
from compute.cluster import local_cluster
from distributed import Client

if __name__ == "__main__":
    cluster = local_cluster(1)
    with Client(cluster.scheduler_address) as client:
        print(client.run_on_scheduler(os.getpid), flush=True)
    sys.stdin.read()  # until killed
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_a_scheduler_whose_server_is_killed_exits_with_it(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    children: list[int] = []
    with subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as server:
        try:
            _watch(server, children)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=30)
            for pid in children:  # whatever a failure left behind
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _watch(server: subprocess.Popen, children: list[int]) -> None:
    """Kill the server and watch its children go; ``children`` is filled for cleanup."""
    scheduler = int(server.stdout.readline())
    children.extend(p.pid for p in psutil.Process(server.pid).children(recursive=True))
    assert scheduler in children
    assert len(children) >= 2  # the scheduler and a worker (and its nanny's helpers)
    server.send_signal(signal.SIGKILL)  # no cleanup of any kind
    server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL
    # Orphans are re-parented; the scheduler notices and closes itself, and the worker
    # processes end with their parent as LocalCluster's do.
    wait_until(lambda: not alive(scheduler), "the orphaned scheduler to exit")
    wait_until(lambda: not any(alive(pid) for pid in children), "the orphaned workers")
