"""Differential fuzzing of NSA-1.4 against the real Pod Security Admission.

Our fixtures were written by the same hands as the policies; PSA (restricted, enforce)
in the kube-apiserver this project builds is an independent oracle. Every pod the
fixtures describe is mutated field by field (each security-relevant field of the pod
spec, its security context, its containers, volumes, probes and lifecycle handlers set
to absent, null, boundary values and other spellings), each mutant goes through PSA
(server-side dry-run into a namespace labelled enforce=restricted) and through our
NSA-1.4 on the in-process engine, and every disagreement is reported with the smallest
set of mutations that causes it. Controls that correspond to one PSA check (CIS-5.2.2
privileged, 5.2.3-5.2.5 host namespaces, 5.2.11 hostProcess, 5.2.13 hostPort) are
compared with that check's verdict. The seed makes the corpus repeatable.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.infra import psa
from harness.model.peers import ANY_CHECK

ABSENT = object()  # a mutation that removes the field
PSA_NAMESPACE = "pac-harness-fuzz"

# The controls compared, and the PSA checks each equals: scenarios/peers.yaml's PSA peer
# (its `equal` list), the one map of our controls to Pod Security checks.
Checks = dict[str, tuple[str, ...]]


def compared_checks(catalog: Any) -> Checks:
    """Control -> its PSA check ids (ANY_CHECK: the restricted level as a whole)."""
    from harness.model.peers import load_peers

    psa_peer = load_peers(catalog)["psa"]
    return {control: psa_peer.controls[control] for control in psa_peer.equal}


_PROFILE_VALUES = [
    ABSENT,
    None,
    {},
    {"type": "RuntimeDefault"},
    {"type": "Localhost", "localhostProfile": "profiles/audit.json"},
    {"type": "Unconfined"},
    {"type": "runtimedefault"},
]
_BOOLS = [ABSENT, None, True, False]

# Field of a pod's securityContext -> interesting values.
POD_SECURITY_CONTEXT: dict[str, list[Any]] = {
    "runAsNonRoot": _BOOLS,
    "runAsUser": [ABSENT, None, 0, 1, 65534],
    "seccompProfile": _PROFILE_VALUES,
    "appArmorProfile": _PROFILE_VALUES,
    "seLinuxOptions": [
        ABSENT,
        {},
        {"type": "container_t"},
        {"type": "container_engine_t"},
        {"type": "spc_t"},
        {"user": "system_u"},
        {"role": "sysadm_r"},
        {"level": "s0:c1,c2"},
    ],
    "sysctls": [
        ABSENT,
        [],
        [{"name": "net.ipv4.tcp_syncookies", "value": "1"}],
        [{"name": "net.ipv4.tcp_wmem", "value": "4096 16384 4194304"}],
        [{"name": "net.ipv4.tcp_notsent_lowat", "value": "16384"}],
        [{"name": "kernel.msgmax", "value": "65536"}],
        [{"name": "net.ipv4/tcp_syncookies", "value": "1"}],
    ],
    "windowsOptions": [ABSENT, {"hostProcess": False}, {"hostProcess": True}],
}

# Field of a pod spec -> values.
POD_SPEC: dict[str, list[Any]] = {
    "hostNetwork": [ABSENT, True, False],
    "hostPID": [ABSENT, True, False],
    "hostIPC": [ABSENT, True, False],
    "hostUsers": [ABSENT, True, False],
    "os": [ABSENT, {"name": "linux"}, {"name": "windows"}],
    "securityContext": [ABSENT, None, {}],
    "volumes": [
        [{"name": "v", "emptyDir": {}}],
        [{"name": "v", "hostPath": {"path": "/etc"}}],
        [{"name": "v", "nfs": {"server": "nfs.example", "path": "/"}}],
        [{"name": "v", "image": {"reference": "registry.k8s.io/pause:3.10"}}],
        [{"name": "v", "gitRepo": {"repository": "https://example.com/r.git"}}],
        [
            {
                "name": "v",
                "ephemeral": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        }
                    }
                },
            }
        ],
    ],
}

# Field of a container's securityContext -> values.
CONTAINER_SECURITY_CONTEXT: dict[str, list[Any]] = {
    "privileged": _BOOLS,
    "allowPrivilegeEscalation": _BOOLS,
    "runAsNonRoot": _BOOLS,
    "runAsUser": [ABSENT, None, 0, 1000],
    "seccompProfile": _PROFILE_VALUES,
    "appArmorProfile": _PROFILE_VALUES,
    "procMount": [ABSENT, None, "Default", "Unmasked"],
    "seLinuxOptions": [ABSENT, {"type": "container_init_t"}, {"type": "spc_t"}, {"role": "r"}],
    "windowsOptions": [ABSENT, {"hostProcess": True}],
    "capabilities": [
        ABSENT,
        None,
        {},
        {"drop": ["ALL"]},
        {"drop": ["all"]},
        {"drop": ["CAP_ALL"]},
        {"drop": ["NET_RAW"]},
        {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        {"drop": ["ALL"], "add": ["net_bind_service"]},
        {"drop": ["ALL"], "add": ["CAP_NET_BIND_SERVICE"]},
        {"drop": ["ALL"], "add": ["CHOWN"]},
        {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
        {"add": ["NET_RAW"]},
    ],
}

_HANDLERS = [
    {"httpGet": {"port": 8080, "path": "/"}},
    {"httpGet": {"port": 8080, "path": "/", "host": "127.0.0.1"}},
    {"tcpSocket": {"port": 8080, "host": "localhost"}},
    {"tcpSocket": {"port": 8080, "host": ""}},
    {"exec": {"command": ["true"]}},
]

# Field of a container -> values.
CONTAINER: dict[str, list[Any]] = {
    "securityContext": [ABSENT, None, {}],
    "ports": [
        [{"containerPort": 8080}],
        [{"containerPort": 8080, "hostPort": 0}],
        [{"containerPort": 8080, "hostPort": 8080}],
    ],
    "livenessProbe": _HANDLERS,
    "readinessProbe": _HANDLERS[:3],
    "lifecycle": [{"preStop": h} for h in _HANDLERS[1:4]] + [{"postStart": _HANDLERS[1]}],
}

APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
ANNOTATIONS: list[Any] = [
    "",
    "runtime/default",
    "localhost/profile",
    "unconfined",
    "Runtime/Default",
]


@dataclass(frozen=True)
class Mutation:
    path: tuple[str | int, ...]
    value: Any

    @property
    def label(self) -> str:
        where = ".".join(f"[{p}]" if isinstance(p, int) else p for p in self.path).replace(
            ".[", "["
        )
        shown = "absent" if self.value is ABSENT else json.dumps(self.value, sort_keys=True)
        return f"{where}={shown}"

    def apply(self, body: dict[str, Any]) -> None:
        node: Any = body
        for key in self.path[:-1]:
            if isinstance(node, dict):
                if not isinstance(node.get(key), dict | list):
                    node[key] = {}
                node = node[key]
            else:
                node = node[key]
        last = self.path[-1]
        if self.value is ABSENT:
            if isinstance(node, dict):
                node.pop(last, None)
        else:
            node[last] = copy.deepcopy(self.value)


@dataclass
class Mutant:
    id: str
    base: str
    mutations: tuple[Mutation, ...]
    pod: dict[str, Any]


def mutations_for(pod: dict[str, Any]) -> list[Mutation]:
    """Every single-field mutation of this pod, container-level ones for the first
    container of each list it has."""
    found: list[Mutation] = []
    for name, values in POD_SPEC.items():
        found += [Mutation(("spec", name), v) for v in values]
    for name, values in POD_SECURITY_CONTEXT.items():
        found += [Mutation(("spec", "securityContext", name), v) for v in values]
    for kind in ("containers", "initContainers"):
        if not pod["spec"].get(kind):
            continue
        for name, values in CONTAINER.items():
            found += [Mutation(("spec", kind, 0, name), v) for v in values]
        for name, values in CONTAINER_SECURITY_CONTEXT.items():
            found += [Mutation(("spec", kind, 0, "securityContext", name), v) for v in values]
    first = pod["spec"]["containers"][0]["name"]
    found += [
        Mutation(("metadata", "annotations", APPARMOR_ANNOTATION + first), v) for v in ANNOTATIONS
    ]
    return found


def generate(bases: dict[str, dict[str, Any]], count: int, seed: int) -> list[Mutant]:
    """Single mutations first, round-robin over the distinct mutations so that each is
    tried on as many bases as count allows (all of them when count is large enough),
    then random pairs of mutations until count. The seed fixes every choice."""
    rng = random.Random(seed)
    options: dict[str, list[Mutation]] = {}
    by_label: dict[str, list[tuple[str, tuple[Mutation, ...]]]] = {}
    for name, pod in sorted(bases.items()):
        options[name] = mutations_for(pod)
        for m in options[name]:
            by_label.setdefault(m.label, []).append((name, (m,)))
    queues = [by_label[label] for label in sorted(by_label)]
    for queue in queues:
        rng.shuffle(queue)
    singles = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    plan = singles[:count]
    seen = {(b, tuple(m.label for m in ms)) for b, ms in plan}
    names = sorted(options)
    attempts = 0
    while len(plan) < count and attempts < count * 20:
        attempts += 1
        base = rng.choice(names)
        first, second = rng.sample(options[base], 2)
        if first.path == second.path:
            continue
        key = (base, tuple(sorted((first.label, second.label))))
        if key in seen:
            continue
        seen.add(key)
        plan.append((base, (first, second)))
    mutants = []
    for i, (base, muts) in enumerate(plan):
        pod = copy.deepcopy(bases[base])
        for m in muts:
            m.apply(pod)
        pod["metadata"]["name"] = f"fuzz-{i}"
        pod["metadata"]["namespace"] = PSA_NAMESPACE
        mutants.append(Mutant(f"fuzz-{i}", base, muts, pod))
    return mutants


@dataclass
class Verdict:
    mutant: Mutant
    psa: str  # allow, deny or invalid (the API server rejected the pod before admission)
    reasons: dict[str, str] = field(default_factory=dict)
    ours: dict[str, str] = field(default_factory=dict)  # control -> allow/deny

    def expected(self, control: str, checks: Checks) -> str:
        """PSA's verdict for a control: the whole profile, or whether one of its checks
        fired."""
        if ANY_CHECK in checks[control]:
            return self.psa
        fired = psa.check_ids(self.reasons)
        return "deny" if any(c in fired for c in checks[control]) else "allow"


def disagreements(verdicts: Iterable[Verdict], checks: Checks) -> list[tuple[Verdict, str]]:
    """(verdict, control) pairs where ours and PSA's differ, on pods PSA judged."""
    return [
        (v, control)
        for v in verdicts
        if v.psa != "invalid"
        for control, ours in sorted(v.ours.items())
        if ours != v.expected(control, checks)
    ]


def minimal(found: list[tuple[Verdict, str]]) -> list[tuple[Verdict, str]]:
    """Drop a pair mutant when one of its single mutations, on the same base, already
    disagrees for the same control: the single one is the smaller cause."""
    singles = {
        (v.mutant.base, v.mutant.mutations[0].label, c)
        for v, c in found
        if len(v.mutant.mutations) == 1
    }
    return [
        (v, c)
        for v, c in found
        if len(v.mutant.mutations) == 1
        or not any((v.mutant.base, m.label, c) in singles for m in v.mutant.mutations)
    ]


def judge(
    mutants: list[Mutant],
    psa_decide: Callable[[dict[str, Any]], tuple[str, str]],
    ours: Callable[[dict[str, Any], str], str],
    controls: list[str],
    progress: Callable[[], None] = lambda: None,
) -> list[Verdict]:
    verdicts = []
    for mutant in mutants:
        decision, message = psa_decide(mutant.pod)
        verdict = Verdict(mutant, decision, psa.violations(message) if decision == "deny" else {})
        if decision != "invalid":
            verdict.ours = {c: ours(mutant.pod, c) for c in controls}
        verdicts.append(verdict)
        progress()
    return verdicts


def write(
    out: Path,
    seed: int,
    verdicts: list[Verdict],
    checks: Checks,
    deliberate: dict[str, str],
    fingerprint: dict[str, str] | None = None,
) -> dict[str, Any]:
    """corpus.jsonl.gz (every mutant), verdicts.jsonl, summary.json; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "corpus.jsonl.gz", "wt") as f:
        for v in verdicts:
            m = v.mutant
            labels = [x.label for x in m.mutations]
            f.write(json.dumps({"id": m.id, "base": m.base, "mutations": labels, "pod": m.pod}))
            f.write("\n")
    with (out / "verdicts.jsonl").open("w") as f:
        for v in verdicts:
            f.write(
                json.dumps(
                    {
                        "id": v.mutant.id,
                        "psa": v.psa,
                        "psa_reasons": sorted(v.reasons),
                        "ours": v.ours,
                    }
                )
            )
            f.write("\n")
    found = minimal(disagreements(verdicts, checks))
    rows = [
        {
            "control": c,
            "base": v.mutant.base,
            "mutations": [m.label for m in v.mutant.mutations],
            "psa": v.expected(c, checks),
            "ours": v.ours[c],
            "psa_reasons": sorted(v.reasons),
            "deliberate": deliberate.get(c),
        }
        for v, c in found
    ]
    judged = [v for v in verdicts if v.psa != "invalid"]
    summary = {
        "seed": seed,
        "corpus": len(verdicts),
        "judged": len(judged),
        "invalid": len(verdicts) - len(judged),
        "psa_denied": sum(v.psa == "deny" for v in judged),
        "bases": len({v.mutant.base for v in verdicts}),
        "controls": [c for c in checks if any(c in v.ours for v in judged)],
        "disagreements": rows,
        "unexplained": sum(1 for r in rows if not r["deliberate"]),
        "inputs": fingerprint or {},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# Pod fields that name other objects: admission plugins would want them to exist, and
# no PSA check reads them.
_REFERENCES = ("serviceAccountName", "serviceAccount", "runtimeClassName", "priorityClassName")


def bases_from_fixtures(fixtures: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Every pod the fixtures describe (a workload as the pod its template makes), and
    each also hardened to meet restricted, so that one mutation can flip the verdict."""
    from harness.targets.local import as_pod

    bases = {}
    for fixture in fixtures:
        pod = as_pod(fixture.input, PSA_NAMESPACE)
        if pod is None:
            continue
        for key in _REFERENCES:
            pod["spec"].pop(key, None)
        bases[fixture.id] = pod
        bases[f"{fixture.id}+restricted"] = harden(pod)
    return bases


def harden(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod with what restricted asks for set and what it forbids removed."""
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    for key in ("hostNetwork", "hostPID", "hostIPC", "os"):
        spec.pop(key, None)
    spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    spec["volumes"] = [{"name": v["name"], "emptyDir": {}} for v in spec.get("volumes") or []]
    pod["metadata"].pop("annotations", None)
    for kind in ("containers", "initContainers"):
        for container in spec.get(kind) or []:
            container["securityContext"] = {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
            for port in container.get("ports") or []:
                port.pop("hostPort", None)
            for key in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
                container.pop(key, None)
    return pod


def run(seed: int, count: int, out: Path, progress: Callable[[], None]) -> dict[str, Any]:
    """The whole fuzz run on the local control plane (etcd + kube-apiserver)."""
    from kubernetes import config as kube_config

    from harness.errors import TargetError
    from harness.infra import kubeapi
    from harness.infra.controlplane import LocalControlPlane
    from harness.model import inputs
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config
    from harness.model.fixtures import load_fixtures
    from harness.model.manifests import admission_review
    from harness.model.policies import policy_set
    from harness.targets.wasm import WasmTarget

    catalog = load_catalog()
    checks = compared_checks(catalog)
    controls = list(checks)
    fixture_set = load_fixtures(c for c in catalog.with_policy if c.enforcement == "admission")
    mutants = generate(bases_from_fixtures(fixture_set.unique), count, seed)
    queries = {c: catalog.get(c).entrypoint_at("admission") for c in controls}
    engine = WasmTarget()
    engine.start(policy_set(queries.values()))

    def ours(pod: dict[str, Any], control: str) -> str:
        return engine.decide(engine.prepare(admission_review(pod), queries[control])).verdict

    cluster = LocalControlPlane()
    cluster.start()
    try:
        api = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))
        kubeapi.request(api, "POST", "/api/v1/namespaces", psa.namespace(PSA_NAMESPACE))
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        kubeapi.request(api, "POST", f"/api/v1/namespaces/{PSA_NAMESPACE}/serviceaccounts", account)
        pods = f"/api/v1/namespaces/{PSA_NAMESPACE}/pods"

        def psa_decide(pod: dict[str, Any]) -> tuple[str, str]:
            try:
                kubeapi.request(api, "POST", pods, pod, query=[("dryRun", "All")])
            except kubeapi.ApiError as exc:
                if psa.refused(exc.status, str(exc)):
                    return "deny", str(exc)
                if exc.status in (400, 422):
                    return "invalid", str(exc)
                raise TargetError(f"kube-apiserver answered {exc.status}: {exc}") from None
            return "allow", ""

        verdicts = judge(mutants, psa_decide, ours, controls, progress)
    finally:
        cluster.stop()
    deliberate = {c.id: c.fuzz_difference for c in catalog.controls if c.fuzz_difference}
    return write(out, seed, verdicts, checks, deliberate, inputs.digest(load_config()))
