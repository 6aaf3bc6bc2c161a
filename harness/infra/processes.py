"""Child processes the harness starts (OPA, etcd, kube-apiserver): how they are bound to
the harness's life and how they are stopped."""

from __future__ import annotations

import contextlib
import ctypes
import random
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: ask Linux to kill it when the harness dies, so even a
    SIGKILLed run cannot leave a server behind. SIGKILL, not SIGTERM: OPA's graceful
    shutdown could hang on a webhook peer that vanished at the same moment."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time; safe on an exited process."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000


def free_port() -> int:
    """A port a server of ours can listen on a moment later. Taken below the kernel's
    ephemeral range: a port from that range (what bind to port 0 returns) can meanwhile
    become the source port of any outgoing connection, which made etcd fail with
    "address already in use" while the machine was busy."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(LOWEST_PORT, low)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    with socket.socket() as s:  # below the range everything is taken: fall back
        s.bind(("127.0.0.1", 0))
        fallback: int = s.getsockname()[1]
        return fallback


def _ephemeral_low() -> int:
    try:
        low = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return max(low, LOWEST_PORT + 1000)
