"""compute.engine.allocator: with the mmap threshold pinned, a frame-sized buffer is a mapping of
its own (given back when freed), even after glibc would have raised its threshold.

Each case runs in a fresh interpreter: the threshold is process-wide and the point is
what a process does from its start. glibc's own count of mapped blocks (``mallinfo2``)
says where an allocation went: no timing, no RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compute.engine.allocator import ENV, _libc

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(_libc() is None, reason="glibc only")

PROBE = """
import ctypes, sys
import numpy as np
from compute.engine.allocator import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else None
# A 16 MiB block freed: glibc raises its threshold to 16 MiB unless it is pinned.
big = np.ones(2 * 2**20)
del big
before = libc.mallinfo2().hblks
frame = np.ones((512, 512))  # 2 MiB, a 512x512 frame's values
print(pinned, libc.mallinfo2().hblks - before)
"""


def probe(*args: str, env: dict | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.strip()


def _environ_without_threshold() -> dict:
    # glibc's tunables as this process may have them: any of MALLOC_TRIM_THRESHOLD_ (a
    # Nanny started in this process sets it for its workers), MALLOC_MMAP_THRESHOLD_ and
    # the like turns glibc's dynamic threshold off, the default this test starts from.
    tunable = ("MALLOC_", "GLIBC_TUNABLES")
    return {k: v for k, v in os.environ.items() if not k.startswith(tunable)}


def test_a_frame_is_mapped_on_its_own_once_the_threshold_is_pinned():
    env = _environ_without_threshold()
    # glibc's default: after the big block, a frame comes from the heap (kept when freed).
    assert probe("default", env=env) == "None 0"
    assert probe("pin", env=env) == "True 1"


def test_a_threshold_the_deployment_set_is_left_alone():
    env = {**_environ_without_threshold(), ENV: str(64 * 2**20)}
    assert probe("pin", env=env) == "False 0"
