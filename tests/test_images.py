"""Image references as the kubelet parses them: policies/lib/images.rego against
distribution/reference (the parser the kubelet and containerd use) and containerd's
resolver (the host it pulls from), built from the Go module proxy into a tiny oracle
program, on a corpus of tricky spellings. Every Rego engine is compared with it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import regopy

from harness import paths
from harness.model.manifests import load_documents
from harness.model.policies import PolicySet, RegoModule
from harness.targets.embedded import EmbeddedTarget
from harness.targets.wasm import WasmTarget
from tests.conftest import require_tool

ORACLE = Path(__file__).resolve().parent / "oracles" / "imageref"

HOSTS = [
    "",
    "docker.io/",
    "Docker.io/",
    "index.docker.io/",
    "localhost/",
    "localhost:5000/",
    "LOCALHOST/",
    "registry.k8s.io/",
    "quay.io:443/",
    "[::1]:5000/",
    "Evil/",
    "my-registry/",
    "a_b/",
    "127.0.0.1:5000/",
    "-bad/",
]
PATHS = ["nginx", "library/nginx", "Team/app", "a__b", "a--b", "-a", "a.", "a/b/c", "a___b"]
TAGS = ["", ":1", ":Latest", ":-x", ":" + "a" * 129]
DIGESTS = [
    "",
    "@sha256:" + "0" * 64,
    "@sha256:abc",
    "@sha256:" + "0" * 40,
    "@sha256:" + "A" * 64,
    "@sha384:" + "0" * 96,
    "@sha512:" + "f" * 128,
    "@md5:" + "0" * 32,
]
EXTRA = [
    "",
    "0123456789abcdef" * 4,
    "0123456789ABCDEF" * 4,
    "0123456789abcdef" * 4 + ":1",
    "quay.io/" + "a" * 260,
    "quay.io/" + "a" * 255,
    "quay.io/" + "a" * 256,
    "a" * 247,
    "a" * 248,
    "docker.io/" + "a" * 247,
    "index.docker.io/" + "a" * 248,
    "docker.io/library/" + "a" * 247,
    "localhost/" + "a" * 255 + ":1",
    "Evil/" + "a" * 256,
    "a_b.com/" + "a" * 250,
    "quay.io/" + "a" * 246,
    "quay.io/" + "a" * 247 + ":" + "t" * 128,
    "nginx@",
    "registry.k8s.io/",
    "registry.k8s.io-:443/pause:3.10",
    "registry.k8s.io.:443/pause",
    ":1",
    "a:b:c",
    "a@b@c",
    "nginx:",
    "nginx:" + "a" * 128,
    "nginx:.x",
    "nginx:_x",
    "nginx:x:y",
    "nginx@sha256:",
    "nginx@:" + "0" * 64,
    "nginx@SHA256:" + "0" * 64,
    "nginx@sha-256:" + "0" * 64,
    "nginx@sha256+b64:" + "0" * 64,
    "nginx@sha256-:" + "0" * 64,
    "nginx@1sha:" + "0" * 64,
    "nginx@a:" + "0" * 31,
    "nginx@a:" + "g" * 32,
    "nginx@a:" + "F" * 32,
    "a._b",
    "a_.b",
    "a.-b",
    "a-.b",
    "a_-b",
    "a-_b",
    "a..b",
    "a__b_c",
    "a---b",
    "a_",
    "_a",
    "a-.b.com/x",
    "a.-b.com/x",
    "a..b.com/x",
    "-a.com/x",
    "a-.com/x",
    "[::1]/x",
    "[]:5000/x",
    "[::1]x/x",
    "[::1]:/x",
    "[g::1]:5000/x",
    "[::1]:50a/x",
    "host:/x",
    "host:12a/x",
    "host:1:2/x",
    "localhost:0/x",
    "a:b/c",
    "nginx\u00e9",
    "ngi nx",
    "nginx\t",
    "a//b",
    "a/b/",
    "/a",
    "a/.b",
    "a./b",
    "a/-b",
    "a-/b",
    "a/_b",
    "a_/b",
    "a.b_c-d__e/f",
    "quay.io/a/.b",
    "quay.io/a_/b",
    ".a.io/x",
    "a.io./x",
    "a.io-/x",
    "a-b.C0.io:1/x",
    "a.io:/x",
    "[::1]/a--b:t@sha256:" + "0" * 64,
    "a_b.com/x",
    "[-::1]/x",
    "[::m]/x",
    ":5000/x",
]

QUERY_MODULE = """package imageref_test

import data.lib.images

verdict(ref) := "invalid" if images.invalid(ref)

verdict(ref) := images.registry(ref) if not images.invalid(ref)

# "index|verdict": a set of strings, which every target returns as its messages.
out contains concat("|", [format_int(i, 10), verdict(ref)]) if some i, ref in input.refs
"""


def fixture_images() -> set[str]:
    """Every image NSA-1.3's fixtures pull: each verdict they expect rests on the parser."""
    folder = paths.fixtures_dir() / "NSA-1.3"
    docs = (d for f in sorted(folder.glob("*/*.yaml")) for d in load_documents(f))
    return {c["image"] for d in docs for c in d.body.get("spec", {}).get("containers", [])}


def corpus() -> list[str]:
    """Every combination of the parts above, the odd cases and the fixtures' images."""
    combos = ("".join(p) for p in itertools.product(HOSTS, PATHS, TAGS, DIGESTS))
    return sorted(set(combos) | set(EXTRA) | fixture_images())


@pytest.fixture(scope="module")
def oracle(tmp_path_factory) -> Path:
    if shutil.which("go") is None:
        if os.environ.get("CI"):
            pytest.fail("go is needed to build the image reference oracle")
        pytest.skip("go not on PATH: cannot build the image reference oracle")
    binary = tmp_path_factory.mktemp("oracle") / "imageref"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ORACLE, check=True, timeout=600)
    return binary


def expected(oracle: Path, refs: list[str]) -> dict[str, str]:
    lines = "".join(json.dumps(r) + "\n" for r in refs)
    result = subprocess.run([str(oracle)], input=lines, capture_output=True, text=True, check=True)
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    return {p["ref"]: ("invalid" if p.get("error") else p["domain"]) for p in parsed}


def modules() -> list[tuple[str, str]]:
    lib = paths.policies_dir() / "lib"
    return [(str(lib / f), (lib / f).read_text()) for f in ("images.rego", "k8s.rego")]


def query_modules() -> list[RegoModule]:
    return [RegoModule(Path(name), source) for name, source in modules()] + [
        RegoModule(paths.policies_dir() / "imageref_test" / "query.rego", QUERY_MODULE)
    ]


def by_ref(refs: list[str], lines) -> dict[str, str]:
    """The query's "index|verdict" strings as {ref: verdict}."""
    pairs = (line.split("|", 1) for line in lines)
    return {refs[int(i)]: verdict for i, verdict in pairs}


def assert_same(ours: dict[str, str], want: dict[str, str]) -> None:
    wrong = {r: (ours.get(r), want[r]) for r in want if ours.get(r) != want[r]}
    assert not wrong, f"{len(wrong)} of {len(want)} differ, e.g. {list(wrong.items())[:5]}"


def test_embedded_engine_parses_references_as_the_kubelet_does(oracle):
    refs = corpus()
    engine = EmbeddedTarget()
    engine.start(PolicySet(query_modules(), {}, {}, ["imageref_test/out"]))
    ours = {}
    # rego-cpp gives up (<error>) on one query over all 5,000 references; 1,000 at a time.
    for start in range(0, len(refs), 1000):
        chunk = refs[start : start + 1000]
        engine._rego.set_input(regopy.Input({"refs": chunk}))
        answer = engine._rego.query_bundle_entrypoint(engine._bundle, "imageref_test/out")
        ours |= by_ref(chunk, json.loads(answer.expressions().json())[0])
    assert_same(ours, expected(oracle, refs))


def test_opa_parses_references_as_the_kubelet_does(oracle, tmp_path):
    opa = require_tool("opa")
    refs = corpus()
    (tmp_path / "query.rego").write_text(QUERY_MODULE)
    (tmp_path / "input.json").write_text(json.dumps({"refs": refs}))
    args = [str(opa), "eval", "--format", "json", "-i", str(tmp_path / "input.json")]
    for name, _ in modules():
        args += ["-d", name]
    args += ["-d", str(tmp_path / "query.rego"), "data.imageref_test.out"]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    answer = json.loads(result.stdout)["result"][0]["expressions"][0]["value"]
    assert_same(by_ref(refs, answer), expected(oracle, refs))


def test_wasm_parses_references_as_the_kubelet_does(oracle):
    """The module OPA compiles runs its own builtins (trim, split, ...), not OPA's Go."""
    require_tool("opa")
    refs = corpus()
    engine = WasmTarget(fallback=False)
    engine.start(PolicySet(query_modules(), {}, {}, ["imageref_test/out"]))
    try:
        decision = engine.decide(engine.prepare({"refs": refs}, "imageref_test/out"))
    finally:
        engine.close()
    assert_same(by_ref(refs, decision.messages), expected(oracle, refs))
