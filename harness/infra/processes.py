"""Child processes the harness starts (OPA, etcd, kube-apiserver): how they are bound to
the harness's life and how they are stopped."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: ask Linux to kill it when the harness dies, so even a
    SIGKILLed run cannot leave a server behind. SIGKILL, not SIGTERM: OPA's graceful
    shutdown could hang on a webhook peer that vanished at the same moment."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time; safe on an exited process."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
