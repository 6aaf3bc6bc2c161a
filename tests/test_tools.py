"""Tool provisioning: the download path fails fast and falls back; a checksum mismatch is
never installed; a verified download is. Served by a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from dataclasses import replace

import pytest

from harness.infra import tools


@pytest.fixture
def served(tmp_path):
    payload = b"#!/bin/sh\necho 'Version: 9.9.9'\n"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "fake-tool").write_bytes(payload)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "www"), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fake-tool", payload
    server.shutdown()


def fake_tool(url: str, sha: str | None) -> tools.Tool:
    base = tools.Tool(
        name="fake-tool",
        version="9.9.9",
        module="example.invalid/fake",
        version_args=(),
        version_pattern=r"Version: (\S+)",
        download_url=url,
    )
    return replace(base, sha256={base.platform_key(): sha} if sha else {})


def test_verified_download_is_installed(served, tmp_path, monkeypatch):
    monkeypatch.setenv("PAC_HARNESS_CACHE", str(tmp_path / "cache"))
    url, payload = served
    tool = fake_tool(url, hashlib.sha256(payload).hexdigest())
    assert tools.download(tool, tool.cache_path, log=lambda _: None)
    assert tools.reported_version(tool, tool.cache_path) == "9.9.9"


def test_checksum_mismatch_is_not_installed(served, tmp_path, monkeypatch):
    monkeypatch.setenv("PAC_HARNESS_CACHE", str(tmp_path / "cache"))
    url, _ = served
    tool = fake_tool(url, "0" * 64)
    lines: list[str] = []
    assert not tools.download(tool, tool.cache_path, log=lines.append)
    assert not tool.cache_path.exists()
    assert "checksum mismatch" in lines[0]


def test_unreachable_download_falls_back_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("PAC_HARNESS_CACHE", str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connection refused
    tool = fake_tool(f"http://127.0.0.1:{port}/fake-tool", "0" * 64)
    lines: list[str] = []
    start = time.monotonic()
    assert not tools.download(tool, tool.cache_path, log=lines.append)
    assert time.monotonic() - start < tools.DOWNLOAD_TIMEOUT_S
    assert "building from source" in lines[0]


def test_no_pinned_checksum_means_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("PAC_HARNESS_CACHE", str(tmp_path / "cache"))
    lines: list[str] = []
    assert not tools.download(
        fake_tool("http://127.0.0.1:9/x", None), tmp_path / "x", log=lines.append
    )
    assert "no pinned sha256" in lines[0]


def test_cache_dir_is_outside_the_checkout_and_overridable(tmp_path, monkeypatch):
    from harness import paths

    monkeypatch.delenv("PAC_HARNESS_CACHE", raising=False)
    assert paths.project_root() not in paths.cache_dir().parents
    monkeypatch.setenv("PAC_HARNESS_CACHE", str(tmp_path))
    assert tools.get_tool("opa").cache_path == tmp_path / "tools" / "opa" / "1.22.3" / "opa"


def test_install_reuses_what_is_there(opa_binary):
    resolved = tools.install("opa", log=lambda _: None)
    assert resolved.source in {"path", "cache"}
    assert resolved.path == opa_binary


def test_free_ports_stay_below_the_ephemeral_range(tmp_path, monkeypatch):
    """A server's port is never one an outgoing connection can take in the meantime."""
    from harness.infra import processes

    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("40000\t60999\n")
    monkeypatch.setattr(processes, "EPHEMERAL_RANGE_FILE", ranges)
    ports = {processes.free_port() for _ in range(50)}
    assert all(processes.LOWEST_PORT <= p < 40000 for p in ports)
    for port in list(ports)[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
