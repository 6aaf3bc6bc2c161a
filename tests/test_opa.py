"""Real OPA: Rego unit tests with full coverage, the HTTPS webhook target, agreement
with the embedded engine, and a server that dies mid-run."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import paths
from harness.checks import regotests
from harness.checks.regotests import run_opa_test, sync
from harness.errors import TargetError
from harness.model.catalog import load_catalog
from harness.model.fixtures import load_fixtures
from harness.replay import Plan, replay
from harness.reporting.results import Recorder, load_run
from harness.targets.opa import OpaServerTarget
from tests.conftest import opa_eval, small_run, wait_for_replay


def test_rego_unit_tests_pass_with_full_line_coverage(opa_binary, catalog):
    result = run_opa_test(catalog)
    assert result.failed == []
    assert result.passed >= 2 * len(catalog.with_policy)
    below = {f: (pct, result.uncovered.get(f)) for f, pct in result.coverage.items() if pct < 100}
    assert below == {}, f"policies below 100 % line coverage: {below}"
    for control in catalog.with_policy:
        assert f"{control.package_root}/{control.policy}/policy.rego" in result.coverage


def test_generated_rego_tests_match_the_fixtures(catalog, fixture_set):
    stale = sync(catalog, fixture_set, write=False)
    assert stale == [], "run: python -m harness policy-test --sync"


def test_a_generated_deny_test_fails_on_a_message_its_suite_does_not_list(
    opa_binary, catalog, fixture_set, tmp_path
):
    """NSA-1.4's privileged-container is also denied for allowPrivilegeEscalation, which its
    suite lists; with that `also` dropped, its generated test must fail on OPA."""
    control = catalog.get("NSA-1.4")
    fixtures = [
        dataclasses.replace(f, also=()) if f.id == "NSA-1.4/deny/privileged-container" else f
        for f in fixture_set.by_control[control.id]
    ]
    root = tmp_path / "policies"
    shutil.copytree(paths.policies_dir(), root)
    regotests.test_file(control, root).write_text(regotests.render_tests(control, fixtures))
    data = tmp_path / "data.json"
    data.write_text(json.dumps(regotests.test_data(fixture_set)))
    run = regotests.test_package(control)
    answer = regotests.opa_test_answer(opa_binary, root, data, ["--run", run, "--format", "json"])
    failed = {r["name"] for r in answer if r.get("fail") or r.get("error")}
    assert failed == {"test_deny_privileged_container"}


def test_engines_agree_on_every_fixture(opa_target, embedded, wasm_target, catalog, fixture_set):
    """Same decision and the same set of messages from the OPA server, the embedded
    engine (regopy) and OPA's Wasm module in wasmtime, per control and combined."""
    pairs = [
        (c.id, f.entrypoint(c), f)
        for c in catalog.with_policy
        for f in fixture_set.by_control[c.id]
    ]
    plan = Plan(catalog.with_policy, fixture_set, 1, 0, 1)
    pairs += [
        (label, query, f) for label, query, fixtures in plan.combined_groups() for f in fixtures
    ]
    disagreements = []
    for control_id, query, fixture in pairs:
        a = opa_target.decide(opa_target.prepare(fixture.input, query))
        for name, other in (("embedded", embedded), ("wasm", wasm_target)):
            b = other.decide(other.prepare(fixture.input, query))
            if a.allowed != b.allowed or set(a.messages) != set(b.messages):
                disagreements.append(f"{control_id} {fixture.id}: opa={a} {name}={b}")
    assert disagreements == [], "\n".join(disagreements)
    assert len(pairs) > 300


def test_engines_agree_on_strings_that_need_escaping(
    opa_target, embedded, wasm_target, fixture_set
):
    """Quotes, backslashes, tabs and non-ASCII text reach the messages
    unchanged and compare equal to Rego literals on every engine (regopy's Input used to
    hand them to rego-cpp unescaped, and its JSON output then failed to parse)."""
    name = 'a"b\\c\td é😀'  # no newline: the webhook's answer puts one message per line
    fixture = next(f for f in fixture_set.by_control["NSA-1.1"] if f.expect == "deny")
    review = copy.deepcopy(fixture.input)
    pod = review["request"]["object"]
    pod["metadata"]["labels"] = {"app": name}
    for container in pod["spec"]["containers"]:
        container["name"] = name
    query = "admission/deny"
    expected = opa_target.decide(opa_target.prepare(review, query))
    assert any(name in m for m in expected.messages), expected.messages
    for other in (embedded, wasm_target):
        assert other.decide(other.prepare(review, query)) == expected


def test_wasm_host_regex_replace_follows_go(wasm_target):
    """regex.replace is served by the host: RE2's ASCII classes and Go's $-templates."""
    from harness.targets.wasm import HOST_BUILTINS

    replace = HOST_BUILTINS["regex.replace"]
    assert replace("nginx:1.25", r":[\w][\w.-]{0,127}$", "") == "nginx"
    assert replace("nginx:é", r":[\w]+$", "") == "nginx:é"  # \w is ASCII in RE2
    assert replace("a-b", r"(\w)-(\w)", "${2}$1$$") == "ba$"


YAML_CASES = [
    "accessLogFile: /dev/stdout\nrootNamespace: istio-config\n",
    "defaultProviders:\n  accessLogging: [envoy]\nsince: 2024-08-13\n",
    "1: one\ntrue: yes\nempty:\nlist: [1, 2.5, 'x']\n",
    "a: [unclosed\n",
    "- a\n- b\n",
]


@pytest.mark.parametrize("text", YAML_CASES, ids=range(len(YAML_CASES)))
def test_wasm_host_yaml_unmarshal_follows_opa(opa_binary, text, tmp_path):
    """yaml.unmarshal is served by the host: the same JSON as OPA's, and undefined where
    OPA's fails (malformed YAML)."""
    from harness.targets.wasm import HOST_BUILTINS, Undefined

    result = opa_eval(opa_binary, "yaml.unmarshal(input.text)", {"text": text}, tmp_path)
    try:
        ours = HOST_BUILTINS["yaml.unmarshal"](text)
    except Undefined:
        assert result is None, result
    else:
        assert result == ours


@pytest.mark.parametrize(
    "text,search", [("abcabc", "bc"), ("aaaa", "aa"), ("ab", "x"), ("äbä", "ä"), ("abc", "")]
)
def test_wasm_host_indexof_n_follows_opa(opa_binary, text, search, tmp_path):
    """indexof_n is served by the host: character (not byte) indexes, overlaps counted."""
    from harness.targets.wasm import HOST_BUILTINS, Undefined

    document = {"text": text, "search": search}
    result = opa_eval(opa_binary, "indexof_n(input.text, input.search)", document, tmp_path)
    try:
        ours = HOST_BUILTINS["indexof_n"](text, search)
    except Undefined:
        assert result is None, result
    else:
        assert ours == result


def test_opa_answers_as_a_webhook(opa_target, fixture_set):
    """POST / returns an AdmissionReview with the request's uid, as kube-apiserver expects."""
    import http.client
    import ssl

    fixture = fixture_set.unique[0]
    ctx = ssl.create_default_context(cafile=str(opa_target.ca_cert))
    conn = http.client.HTTPSConnection("127.0.0.1", opa_target.port, context=ctx, timeout=10)
    conn.request("POST", "/", json.dumps(fixture.input), {"Content-Type": "application/json"})
    body = json.loads(conn.getresponse().read())
    conn.close()
    assert body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == fixture.input["request"]["uid"]
    assert isinstance(body["response"]["allowed"], bool)


def test_run_against_opa_records_round_trips_and_bench(opa_binary, tmp_path):
    out = tmp_path / "run"
    code = small_run(out, "NSA-1.1,CIS-5.2.2", warmup=1, target="opa")
    assert code == 0
    run = load_run(out)
    assert run.meta["engine"] == "opa" and run.meta["engine_version"] == "1.22.3"
    assert run.records["correct"].dropna().all()
    bench = run.extras["opa_bench"]
    assert {b["control"] for b in bench} == {"NSA-1.1", "CIS-5.2.2", "ALL"}
    assert all(b["eval_p50_ns"] > 0 and b["allocs_per_op"] > 0 for b in bench)
    assert all(b["expression_evals"] > 0 for b in bench)
    result = subprocess.run(
        [sys.executable, "-m", "harness", "compare", str(out), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {r["control"]: r for r in json.loads(result.stdout)}
    assert rows["NSA-1.1"]["opa_p50_ms"] > 0 and rows["NSA-1.1"]["opa_eval_p50_ms"] > 0


def test_opa_dying_mid_run_keeps_measurements(opa_binary, policy_set, catalog):
    controls = [catalog.get("NSA-1.1"), catalog.get("NSA-1.2")]
    plan = Plan(controls, load_fixtures(controls), iterations=5, warmup=0, combined_iterations=0)
    recorder = Recorder()
    target = OpaServerTarget()
    target.start(policy_set)
    killed = []

    def kill_after_first_series(_n: int, _what: str) -> None:
        if not killed:
            os.kill(target.pid, signal.SIGKILL)
            killed.append(True)
            time.sleep(0.2)

    try:
        with pytest.raises(
            TargetError, match=r"OPA server \(pid \d+\) exited with code -9 mid-run"
        ):
            replay(target, plan, recorder, kill_after_first_series)
    finally:
        target.close()
    assert len(recorder) == 5  # the first series was measured and kept


def _opa_servers(pid: int) -> list[int]:
    """Child processes of pid that are `opa run --server` (not opa build or git)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(p) for p in path.read_text().split()] if path.exists() else []
    servers = []
    for child in children:
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--server" in argv:
            servers.append(child)
    return servers


def _wait_for_server(proc: subprocess.Popen) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        servers = _opa_servers(proc.pid)
        if servers:
            return servers
        time.sleep(0.2)
    raise AssertionError("the OPA server did not start")


def _long_opa_run(spawn, out: Path):
    """A `run --target opa` that is measuring, and the pid of its OPA server."""
    proc = spawn(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--target",
            "opa",
            "--iterations",
            "100000",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    servers = _wait_for_server(proc)
    wait_for_replay(proc)
    time.sleep(2)
    return proc, servers


def test_ctrl_c_stops_the_opa_server_and_keeps_results(opa_binary, tmp_path, spawn):
    out = tmp_path / "run"
    proc, servers = _long_opa_run(spawn, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    for pid in servers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    run = load_run(out)
    assert run.meta["complete"] is False and len(run.records) > 0


def test_opa_killed_during_cli_run_exits_2_with_partial_results(opa_binary, tmp_path, spawn):
    out = tmp_path / "run"
    proc, servers = _long_opa_run(spawn, out)
    os.kill(servers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "run incomplete (OPA server" in stderr
    run = load_run(out)
    assert run.meta["complete"] is False and "exited with code -9" in run.meta["error"]
    assert len(run.records) > 0


def test_missing_opa_is_a_one_line_error(tmp_path):
    env = dict(os.environ, PAC_HARNESS_CACHE=str(tmp_path / "empty-cache"), PATH="/usr/bin:/bin")
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--target", "opa", "--iterations", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: opa 1.22.3 is not installed; run: python -m harness tools install opa"
    )


def test_catalog_loads(catalog):
    assert load_catalog() is not None and catalog


@pytest.fixture
def scanner():
    """A real HTTP image scanner on loopback: one vulnerable image, everything else clean."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            image = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["image"]
            vulns = [{"id": "CVE-2026-0001", "severity": "HIGH"}] if "vulnerable" in image else []
            body = json.dumps({"vulnerabilities": vulns}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/scan"
    server.shutdown()


def _scanning_target(url: str, kind: str = "opa"):
    from harness.model.config import load_config
    from harness.model.policies import PolicySet, load_modules
    from harness.targets.wasm import WasmTarget

    config = load_config()
    config["image_scanner"] = {"url": url, "timeout": "2s", "deny_severity": "HIGH"}
    target = OpaServerTarget() if kind == "opa" else WasmTarget()
    target.start(PolicySet(load_modules(), config, {}, ["controls/nsa_1_3/deny"]))
    return target


def _pod(image: str) -> dict:
    from harness.model.manifests import admission_review

    return admission_review(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"containers": [{"name": "app", "image": image}]},
        }
    )


@pytest.mark.parametrize("kind", ["opa", "wasm"])
def test_image_scanner_denies_vulnerable_images(opa_binary, scanner, kind):
    """The OPA server's http.send and the wasm host's give the same verdicts."""
    with _scanning_target(scanner, kind) as target:
        bad = target.decide(
            target.prepare(_pod("docker.io/library/vulnerable:1"), "controls/nsa_1_3/deny")
        )
        good = target.decide(
            target.prepare(_pod("docker.io/library/nginx:1"), "controls/nsa_1_3/deny")
        )
    assert bad.messages == (
        "[NSA-1.3] Pod shop/p: container app (spec.containers[0]): image "
        "docker.io/library/vulnerable:1 has HIGH vulnerability CVE-2026-0001",
    )
    assert good.allowed


@pytest.mark.parametrize("kind", ["opa", "wasm"])
def test_unreachable_scanner_denies(opa_binary, kind):
    from harness.infra.processes import free_port

    with _scanning_target(f"http://127.0.0.1:{free_port()}/scan", kind) as target:
        decision = target.decide(
            target.prepare(_pod("docker.io/library/nginx:1"), "controls/nsa_1_3/deny")
        )
    assert not decision.allowed
    assert "could not be scanned" in decision.messages[0]


def test_check_asks_a_configured_scanner(tmp_path):
    """check decides in process with the wasm engine, which serves http.send: an
    unreachable scanner denies the pod's images, as on the OPA server."""
    config = tmp_path / "config.yaml"
    config.write_text("image_scanner: {url: 'http://127.0.0.1:9/scan', timeout: 1s}\n")
    result = subprocess.run(
        [sys.executable, "-m", "harness", "check", "tests/data/check/mixed/debug-pod.yaml",
         "--config", str(config), "--controls", "NSA-1.3", "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    assert findings and all(f["decision"] == "deny" for f in findings)
    assert all(any("could not be scanned" in m for m in f["messages"]) for f in findings)


def test_the_regopy_engine_refuses_a_configured_scanner(policy_set):
    """rego-cpp has no http.send: the embedded target says so in one line."""
    import dataclasses

    from harness.errors import HarnessError
    from harness.targets.embedded import EmbeddedTarget

    config = {**policy_set.config, "image_scanner": {"url": "http://127.0.0.1:9/scan"}}
    with pytest.raises(HarnessError, match="cannot ask a scanner"):
        EmbeddedTarget().start(dataclasses.replace(policy_set, config=config))


def test_wasm_memory_stays_flat_over_many_decisions(wasm_target, fixture_set):
    """Each decision evaluates from the same heap pointer: the module's memory does not
    grow with the number of decisions."""
    from harness.model.policies import COMBINED_QUERY

    fixture = fixture_set.by_control["NSA-1.1"][3]
    prepared = wasm_target.prepare(fixture.input, COMBINED_QUERY)
    for _ in range(50):
        wasm_target.decide(prepared)
    size = wasm_target.memory_bytes()
    for _ in range(2000):
        wasm_target.decide(prepared)
    assert wasm_target.memory_bytes() == size
