"""A real OPA server over HTTPS, asked exactly as kube-apiserver asks a validating
webhook: POST the AdmissionReview, read back an AdmissionReview.

The harness builds a bundle with `opa build` (policies plus data.json holding the
admin config and cluster state), generates a CA and serving certificate, starts
`opa run --server` on a loopback port and keeps one connection alive for the run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, TargetError
from harness.infra import processes, tls, tools
from harness.infra.processes import free_port
from harness.model.defaulting import admitted_review
from harness.model.modes import OPA_BENCH, POLICY
from harness.model.policies import COMBINED_QUERY, PolicySet
from harness.targets.base import Decision, Series, Target

READY_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 30


def webhook_path(query: str) -> str | None:
    """Admission queries go where kube-apiserver would send them: the combined query to
    POST /, one control to its webhook path. Other queries (node checks) are not webhooks."""
    if query == COMBINED_QUERY:
        return "/"
    parts = query.split("/")
    if len(parts) == 3 and parts[0] == "controls" and parts[2] == "deny":
        return f"/v0/data/webhook/controls/{parts[1]}"
    return None


# The bundle owns every top-level data path it writes, and nothing else: data.harness
# stays writable through the data API (the local target selects a control there).
# OPA's own evaluation time, without HTTP, on one allow and one deny fixture per control.
EVAL_ONLY = Series(
    OPA_BENCH,
    "opa bench on one allow and one deny fixture per control",
    (POLICY,),
    "bench",
    engine_table=OPA_BENCH,
)
BUNDLE_ROOTS = [
    "admission",
    "audit",
    "config",
    "controls",
    "kubernetes",
    "lib",
    "node",
    "nodecheck",
    "system",
    "webhook",
]


def write_bundle_source(policy: PolicySet, src: Path, with_state: bool = True) -> Path:
    """The bundle's files: policy modules (no tests), data.json and a .manifest whose
    roots claim exactly what the bundle writes.

    Without state the bundle leaves data.kubernetes to a replicator (kube-mgmt's role),
    which writes it through the data API."""
    src.mkdir(parents=True, exist_ok=True)
    roots = BUNDLE_ROOTS if with_state else [r for r in BUNDLE_ROOTS if r != "kubernetes"]
    data = policy.data if with_state else {"config": policy.config}
    (src / ".manifest").write_text(json.dumps({"roots": roots}))
    for module in policy.modules:
        dest = src / module.path.relative_to(policy.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(module.source)
    (src / "data.json").write_text(json.dumps(data))
    return src


def build_bundle(opa: Path, policy: PolicySet, workdir: Path, with_state: bool = True) -> Path:
    """`opa build` (which also compiles every module) over the bundle source."""
    src = write_bundle_source(policy, workdir / "bundle-src", with_state)
    out = workdir / "bundle.tar.gz"
    result = subprocess.run(
        [str(opa), "build", "--bundle", str(src), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["(no output)"])[0]
        raise HarnessError(f"{policy.root}: opa build failed: {first}")
    return out


class OpaDataClient:
    """OPA's data API on its own connection (one per thread: http.client is not
    thread-safe), for writes and reads outside any timed section."""

    def __init__(self, port: int, ca_cert: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca_cert))
        self._conn = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, timeout=REQUEST_TIMEOUT_S
        )

    def _request(self, method: str, path: str, value: Any = None) -> tuple[int, bytes]:
        body = None if value is None else json.dumps(value).encode()
        try:
            self._conn.request(
                method, f"/v1/data/{path}", body, {"Content-Type": "application/json"}
            )
            response = self._conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            raise TargetError(f"OPA data API {method} /v1/data/{path}: {exc}") from None

    def put(self, path: str, value: Any) -> None:
        status, body = self._request("PUT", path, value)
        if status not in (200, 204):
            raise TargetError(f"OPA refused PUT /v1/data/{path}: {status} {body[:200]!r}")

    def delete(self, path: str) -> None:
        status, body = self._request("DELETE", path)
        if status not in (200, 204, 404):
            raise TargetError(f"OPA refused DELETE /v1/data/{path}: {status} {body[:200]!r}")

    def get(self, path: str) -> Any:
        """The document at path, or None where it is undefined."""
        status, body = self._request("GET", path)
        if status != 200:
            raise TargetError(f"OPA refused GET /v1/data/{path}: {status} {body[:200]!r}")
        return json.loads(body).get("result")

    def close(self) -> None:
        self._conn.close()


class OpaServerTarget(Target):
    name = "opa"

    def __init__(self, with_state: bool = True) -> None:
        self.with_state = with_state
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._version: str | None = None
        self._data: OpaDataClient | None = None
        # Set by start(); _conn until close().
        self._conn: http.client.HTTPSConnection
        self._log: Path
        self._opa: Path
        self.port: int
        self.bundle: Path
        self.ca_cert: Path

    # -------------------------------------------------------------- lifecycle

    def start(self, policy: PolicySet) -> None:
        try:
            self._start(policy)
        except BaseException:
            self.close()  # a half-started server is not left behind
            raise

    def _start(self, policy: PolicySet) -> None:
        self._opa = tools.require("opa")
        self._version = tools.reported_version(tools.get_tool("opa"), self._opa)
        self._workdir = Path(tempfile.mkdtemp(prefix="pac-harness-opa-"))
        self.bundle = build_bundle(self._opa, policy, self._workdir, self.with_state)
        ca = tls.new_authority(self._workdir / "pki")
        serving = tls.issue(
            ca, self._workdir / "pki", "opa", "127.0.0.1", ["127.0.0.1", "localhost"]
        )
        self.ca_cert = ca.path
        self.port = free_port()
        self._log = self._workdir / "opa.log"
        cmd = [
            str(self._opa),
            "run",
            "--server",
            f"--addr=127.0.0.1:{self.port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            "--log-level=error",
            "--set=decision_logs.console=false",
            "--disable-telemetry",
            "--bundle",
            str(self.bundle),
        ]
        with self._log.open("w") as log:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        context = ssl.create_default_context(cafile=str(ca.path))
        self._conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=context, timeout=REQUEST_TIMEOUT_S
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                self._conn.request("GET", "/health?bundles")
                response = self._conn.getresponse()
                response.read()
                if response.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                self._conn.close()
            time.sleep(0.1)
        raise TargetError(
            f"OPA server did not become ready within {READY_TIMEOUT_S} s ({self._last_log_line()})"
        )

    def close(self) -> None:
        if self._data is not None:
            self._data.close()
            self._data = None
        if hasattr(self, "_conn"):
            self._conn.close()
            del self._conn
        if self._proc is not None:
            processes.stop(self._proc, timeout=10)
            self._proc = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -------------------------------------------------------------- decisions

    def prepare(self, review: dict[str, Any], query: str) -> Any:
        review = admitted_review(review)
        path = webhook_path(query)
        if path is not None:
            return path, json.dumps(review).encode(), parse_review
        # Node snapshots: OPA's data API, which also reports OPA's own handler time.
        body = json.dumps({"input": review}).encode()
        return f"/v1/data/{query}?metrics=true", body, parse_data_response

    def decide(self, prepared: Any) -> Decision:
        parse: Callable[[bytes], Decision]
        path, body, parse = prepared
        try:
            self._conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            if self._proc is not None:  # a server that just died needs a moment to be reaped
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=2)
            self._check_alive()
            raise TargetError(f"OPA server request failed: {exc}") from None
        if response.status != 200:
            raise TargetError(f"OPA server answered {response.status} on {path}: {payload[:200]!r}")
        return parse(payload)

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise TargetError(
                f"OPA server (pid {self._proc.pid}) exited with code {self._proc.returncode} "
                f"mid-run ({self._last_log_line()})"
            )

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = self._log.read_text().strip().splitlines()
            if lines:
                return lines[-1][:200]
        return "no log output"

    def series(self) -> list[Series]:
        return [EVAL_ONLY]

    def engine_bench(self, review: dict[str, Any], query: str) -> dict[str, Any]:
        """Eval-only timing with `opa bench` on the same bundle the server loaded."""
        from harness.targets.opabench import bench_one

        return bench_one(self._opa, self.bundle, review, query)

    def data_client(self) -> OpaDataClient:
        return OpaDataClient(self.port, self.ca_cert)

    def _data_api(self) -> OpaDataClient:
        if self._data is None:
            self._data = self.data_client()
        return self._data

    def put_data(self, path: str, value: Any) -> None:
        """Write a document through OPA's data API (outside any timed section)."""
        self._data_api().put(path, value)

    def get_data(self, path: str) -> Any:
        """Read a document (None where undefined) through OPA's data API."""
        return self._data_api().get(path)

    def describe(self) -> dict[str, Any]:
        return {"engine": "opa", "engine_version": self._version, "transport": "https, keep-alive"}


def parse_review(payload: bytes) -> Decision:
    """The AdmissionReview response: allowed, and the denial messages one per line."""
    try:
        response = json.loads(payload)["response"]
    except (ValueError, KeyError, TypeError):
        raise TargetError(
            f"OPA server returned no AdmissionReview response: {payload[:200]!r}"
        ) from None
    if response.get("allowed"):
        return Decision(allowed=True, messages=())
    message = (response.get("status") or {}).get("message", "")
    return Decision(allowed=False, messages=tuple(sorted(m for m in message.split("\n") if m)))


def parse_data_response(payload: bytes) -> Decision:
    """{"result": [messages], "metrics": {...}} from POST /v1/data/<path>?metrics=true."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise TargetError(f"OPA server returned invalid JSON: {payload[:200]!r}") from None
    messages = tuple(sorted(body.get("result") or []))
    engine_ns = (body.get("metrics") or {}).get("timer_server_handler_ns")
    return Decision(allowed=not messages, messages=messages, engine_ns=engine_ns)
