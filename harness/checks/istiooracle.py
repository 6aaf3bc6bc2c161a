"""The Istio oracle: NSA-2.6 against Istio's own injector and PeerAuthentication code.

NSA-2.6 admits a pod only when Istio will give it a sidecar and its inbound traffic
will be mutual TLS on every port. Whether that holds is Istio's decision, so the oracle
asks Istio: harness/checks/istiodecider links istio.io/istio (the version its go.mod
pins) and runs its chart rendering (the injection webhooks' selectors and the
injector's config per installed revision), injectRequired, and istiod's PeerAuthentication
lookup and ComposePeerAuthentication over generated cases.

Cases come in worlds: one Istio installation (revisions installed, root namespace) and
up to two mesh-wide PeerAuthentications, shared by the world's cases; each case adds a
namespace (labels istio-injection and istio.io/rev in every spelling Istio reads
differently, or one of the namespaces Istio never injects into, or the root itself), up
to three PeerAuthentications there (selector absent, empty or with labels, mode absent,
UNSET or set, port-level modes, creation times that tie) and a pod (the inject label
and annotation, istio.io/rev, hostNetwork). The policy judges each pod with the world's
namespaces and PeerAuthentications as its replicated state and the installation as its
config. The seed makes it repeatable.

Not generated: the traffic.sidecar.istio.io annotations that leave ports outside the
sidecar (NSA-2.6 denies them by their meaning, which needs no oracle), revision tags,
and pods of workload controllers (their labels reach the same code as a pod's).
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.oraclerun import verdicts, write_run

CONTROL = "NSA-2.6"
DECIDER_SOURCE = Path(__file__).parent / "istiodecider"
ISTIO_MODULE = "istio.io/istio"
# The wrappers the decider needs inside Istio's packages (see istiodecider/main.go).
PATCHES = {
    "pkg/kube/inject/zz_pacharness.go": "overlay_inject.go.in",
    "pilot/pkg/model/zz_pacharness.go": "overlay_model.go.in",
}
CASES_PER_WORLD = 25
SECURITY = "security.istio.io/v1"

# (revisions installed, root namespace): the default revision, a canary beside it, a
# canary alone, and a mesh with its own root namespace.
INSTALLATIONS: list[tuple[list[str], str]] = [
    (["default"], "istio-system"),
    (["default", "canary"], "istio-system"),
    (["canary"], "istio-system"),
    (["default"], "mesh-root"),
]
_SPECIAL_NAMESPACES = ["kube-system", "kube-public", "local-path-storage", "default"]
# Values weighted toward a careful operator's (injection on, STRICT), so that both
# verdicts are common; the rest are the spellings Istio reads differently.
_INJECTION = [None, None, "enabled", "enabled", "enabled", "disabled", "Enabled", "", "true"]
_REVISION = [None, None, None, "default", "canary", "stable", "", "Default"]
_INJECT = [None, None, None, "true", "false", "True", "FALSE", "", "yes"]
_MODES = ["STRICT", "STRICT", "STRICT", "PERMISSIVE", "DISABLE", "UNSET"]
_SELECTORS: list[dict[str, str]] = [
    {"app": "web"},
    {"app": "web", "version": "v1"},
    {"app": "api"},
    {"version": "v1"},
]
_TIMES = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-02T00:00:00Z"]
_NAMES = ["default", "a-strict", "b-permissive", "mesh", "z-last"]


@dataclass
class World:
    """One installation and its mesh-wide policies, shared by its cases."""

    index: int
    installation: int
    mesh_policies: list[dict[str, Any]]
    cases: list[Case] = field(default_factory=list)

    @property
    def revisions(self) -> list[str]:
        return INSTALLATIONS[self.installation][0]

    @property
    def root_namespace(self) -> str:
        return INSTALLATIONS[self.installation][1]

    @property
    def peer_authentications(self) -> int:
        return len(self.mesh_policies) + sum(len(c.policies) for c in self.cases)

    @property
    def config(self) -> dict[str, Any]:
        return {"revisions": self.revisions, "root_namespace": self.root_namespace}

    def state_objects(self) -> list[dict[str, Any]]:
        """The namespaces and PeerAuthentications the world's cluster holds."""
        namespaces = {self.root_namespace: _namespace(self.root_namespace, {})}
        namespaces.update((c.namespace["metadata"]["name"], c.namespace) for c in self.cases)
        policies = [p for c in self.cases for p in c.policies]
        return [*namespaces.values(), *self.mesh_policies, *policies]


@dataclass
class Case:
    namespace: dict[str, Any]
    pod: dict[str, Any]
    policies: list[dict[str, Any]]  # PeerAuthentications in the pod's namespace


def generate(count: int, seed: int) -> list[World]:
    rng = random.Random(seed)
    worlds: list[World] = []
    for index in range((count + CASES_PER_WORLD - 1) // CASES_PER_WORLD):
        installation = rng.randrange(len(INSTALLATIONS))
        root = INSTALLATIONS[installation][1]
        mesh = [
            _peer_authentication(rng, root, f"m{n}", workload=False)
            for n in range(rng.randint(0, 2))
        ]
        world = World(index, installation, _unique_names(mesh))
        size = min(CASES_PER_WORLD, count - index * CASES_PER_WORLD)
        special = rng.sample([*_SPECIAL_NAMESPACES, root], k=min(size, rng.randint(0, 2)))
        for n in range(size):
            name = special[n] if n < len(special) else f"w{index:03d}-c{n:02d}"
            world.cases.append(_case(rng, name, name != root))
        worlds.append(world)
    return worlds


def _case(rng: random.Random, namespace: str, own_policies: bool) -> Case:
    labels: dict[str, str] = {}
    for key, choices in (("istio-injection", _INJECTION), ("istio.io/rev", _REVISION)):
        value = rng.choice(choices)
        if value is not None:
            labels[key] = value
    policies: list[dict[str, Any]] = []
    if own_policies:
        policies = [
            _peer_authentication(rng, namespace, f"p{n}", workload=rng.random() < 0.5)
            for n in range(rng.randint(0, 3))
        ]
        if rng.random() < 0.4:  # the careful operator's namespace-wide STRICT, first
            policies.insert(0, _strict(namespace))
        policies = _unique_names(policies)
    return Case(_namespace(namespace, labels), _pod(rng, namespace), policies)


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    # kube-apiserver labels every namespace with its name (SetDefaults_Namespace,
    # pkg/apis/core/v1/defaults.go); webhooks' namespaceSelectors see that label.
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**labels, "kubernetes.io/metadata.name": name}},
    }


def _pod(rng: random.Random, namespace: str) -> dict[str, Any]:
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for key, choices in (("sidecar.istio.io/inject", _INJECT), ("istio.io/rev", _REVISION)):
        value = rng.choice(choices)
        if value is not None:
            labels[key] = value
    value = rng.choice(_INJECT)
    if value is not None:
        annotations["sidecar.istio.io/inject"] = value
    for key, values in (("app", ["web", "api"]), ("version", ["v1", "v2"])):
        if rng.random() < 0.7:
            labels[key] = rng.choice(values)
    metadata: dict[str, Any] = {"name": "p", "namespace": namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.local/app:1"}]}
    if rng.random() < 0.1:
        spec["hostNetwork"] = rng.random() < 0.7
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _peer_authentication(
    rng: random.Random, namespace: str, name: str, workload: bool
) -> dict[str, Any]:
    """A PeerAuthentication as the CRD stores it: selector absent, empty or labelled
    (a namespace-wide one may still carry an empty matchLabels), mtls absent, empty or
    with a mode, port-level modes only with a selector (Istio's validation)."""
    spec: dict[str, Any] = {}
    if workload:
        spec["selector"] = {"matchLabels": dict(rng.choice(_SELECTORS))}
    else:
        shape = rng.randrange(3)
        if shape == 1:
            spec["selector"] = {}
        elif shape == 2:
            spec["selector"] = {"matchLabels": {}}
    mtls = rng.randrange(4)
    if mtls == 1:
        spec["mtls"] = {}
    elif mtls >= 2:
        spec["mtls"] = {"mode": rng.choice(_MODES)}
    if workload and rng.random() < 0.3:
        spec["portLevelMtls"] = {
            str(port): ({"mode": rng.choice(_MODES)} if rng.random() < 0.8 else {})
            for port in rng.sample([8080, 9090, 15021], k=rng.randint(1, 2))
        }
    return {
        "apiVersion": SECURITY,
        "kind": "PeerAuthentication",
        "metadata": {
            "name": rng.choice(_NAMES) + "-" + name,
            "namespace": namespace,
            "creationTimestamp": rng.choice(_TIMES),
        },
        "spec": spec,
    }


def _strict(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": SECURITY,
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": namespace, "creationTimestamp": _TIMES[0]},
        "spec": {"mtls": {"mode": "STRICT"}},
    }


def _unique_names(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names are unique per namespace, as the API server keeps them."""
    seen: set[str] = set()
    out = []
    for pa in policies:
        if pa["metadata"]["name"] not in seen:
            seen.add(pa["metadata"]["name"])
            out.append(pa)
    return out


def decider(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Istio's answers for the request's cases (see istiodecider/main.go)."""
    from harness.errors import HarnessError
    from harness.infra import tools

    binary = tools.go_program(DECIDER_SOURCE, "istiodecider", patches={ISTIO_MODULE: PATCHES})
    result = subprocess.run(
        [str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise HarnessError(f"istiodecider failed: {result.stderr.strip()[-300:]}")
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


def breaks(answer: dict[str, Any]) -> bool:
    """NSA-2.6 is broken unless Istio injects a sidecar and every port is STRICT."""
    modes = [answer["mode"], *answer["ports"].values()]
    return not answer["injected"] or any(m != "STRICT" for m in modes)


@dataclass(frozen=True)
class Outcome:
    world: World
    case: Case
    answer: dict[str, Any]
    oracle: bool  # the control is broken (the policy should deny)
    ours: bool  # the policy denies the pod
    messages: tuple[str, ...]


def request_for(worlds: list[World]) -> dict[str, Any]:
    return {
        "installations": [
            {"revisions": revisions, "root_namespace": root} for revisions, root in INSTALLATIONS
        ],
        "cases": [
            {
                "installation": world.installation,
                "namespace": case.namespace,
                "pod": case.pod,
                "peer_authentications": [
                    *world.mesh_policies,
                    *(p for c in world.cases if c.namespace == case.namespace for p in c.policies),
                ],
            }
            for world in worlds
            for case in world.cases
        ],
    }


def run(count: int, seed: int, out: Path, progress: Callable[[], None]) -> dict[str, Any]:
    """The whole oracle run; writes summary.json and cases.jsonl.gz. progress() ticks
    per case the policy judged."""
    from harness.model import inputs
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config
    from harness.model.manifests import admission_review, cluster_state
    from harness.model.policies import policy_set
    from harness.targets.wasm import WasmTarget

    query = load_catalog().get(CONTROL).entrypoint_at("admission")
    worlds = generate(count, seed)
    answers = iter(decider(request_for(worlds)))
    outcomes: list[Outcome] = []
    for world in worlds:
        config = {**load_config(), "istio": world.config}
        engine = WasmTarget()
        engine.start(policy_set([query], cluster_state(world.state_objects()), config))
        try:
            for case in world.cases:
                answer = next(answers)
                decision = engine.decide(engine.prepare(admission_review(case.pod), query))
                outcomes.append(
                    Outcome(
                        world, case, answer, breaks(answer), not decision.allowed, decision.messages
                    )
                )
                progress()
        finally:
            engine.close()
    return write(out, seed, worlds, outcomes, inputs.digest(load_config()))


def write(
    out: Path,
    seed: int,
    worlds: list[World],
    outcomes: list[Outcome],
    fingerprint: dict[str, str],
) -> dict[str, Any]:
    cases = (
        {
            "world": o.world.index,
            "installation": o.world.config,
            "namespace": o.case.namespace,
            "pod": o.case.pod,
            "peer_authentications": [*o.world.mesh_policies, *o.case.policies],
            "istio": o.answer,
            "oracle": o.oracle,
            "ours": o.ours,
            "messages": list(o.messages),
        }
        for o in outcomes
    )
    summary = {
        "oracle": "istio.io/istio v0.0.0-20260827124520-eed52ebb66ad: the istio-discovery "
        "chart's injection webhooks and injector config (operator/pkg/helm), "
        "injectRequired (pkg/kube/inject), AuthenticationPolicies and "
        "ComposePeerAuthentication (pilot/pkg/model, pilot/pkg/security/authn)",
        "control": CONTROL,
        "seed": seed,
        "cases": len(outcomes),
        "worlds": len(worlds),
        "peer_authentications": sum(w.peer_authentications for w in worlds),
        "injected_by_istio": sum(o.answer["injected"] for o in outcomes),
        "strict_by_istio": sum(not o.oracle for o in outcomes),
        "disagreements": [
            {
                "world": o.world.index,
                "namespace": o.case.namespace["metadata"]["name"],
                "control": CONTROL,
                **verdicts(o.oracle, o.ours),
            }
            for o in outcomes
            if o.oracle != o.ours
        ],
        "inputs": fingerprint,
    }
    return write_run(out, cases, summary)
