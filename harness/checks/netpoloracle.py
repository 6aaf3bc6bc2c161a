"""The NetworkPolicy oracle: NSA-2.2, CIS-5.3.2 and NSA-2.8 against cyclonus's policy
matcher, on pods that real controllers made.

NSA-2.2 asks, when a workload is written, whether the pods it will make are isolated
by a default deny in both directions; CIS-5.3.2 whether their namespace has a
NetworkPolicy at all; NSA-2.8 whether their egress can reach a cloud metadata endpoint
(each address of the config's cloud_metadata, on 80/TCP: cyclonus's
IsIngressOrEgressAllowed for a destination outside the cluster). The oracle generates
cases (a namespace, up to three NetworkPolicies with each field absent, null, empty or
set, and a workload of one of the pod-making kinds), creates them on a local control
plane where kube-controller-manager's workload controllers run, and waits for each
workload's first pod. The policies as kube-apiserver stored them and the pod's labels as its
controller wrote them go to cyclonus v0.5.6's matcher (github.com/mattfenwick/cyclonus
pkg/matcher, driven by harness/checks/netpolmatcher): the pod is isolated in a
direction when some policy's target applies to it, and a policy lets all traffic of
that direction through when its peers include cyclonus's AllPeersPorts (a rule with no
peers and no ports). The policy judges the workload as written, offline, with the
policies as written (model.defaulting makes them what the API server stores).

A controller adds labels whose values are not known at admission (a pod-template-hash,
a controller uid): the policy reads a selector on them as holding for every value or
for some. The generated selectors use those keys with Exists and DoesNotExist only,
whose answer does not hang on the value; a selector on one of their values is a
deliberate difference the catalog states for NSA-2.2. The seed makes it repeatable.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks.oraclerun import verdicts, write_run

CONTROLS = ("NSA-2.2", "CIS-5.3.2", "NSA-2.8")
METADATA_PORT = 80  # where every provider's instance metadata endpoint answers
MATCHER_SOURCE = Path(__file__).parent / "netpolmatcher"
NAMESPACE_PREFIX = "pac-harness-netpol-"
NODE = "pac-harness-netpol-node"  # a DaemonSet makes a pod per node
PODS_TIMEOUT_S = 180  # a CronJob's first Job waits for the next minute
CONTROLLERS = [
    "deployment",
    "replicaset",
    "statefulset",
    "daemonset",
    "job",
    "cronjob",
    "replicationcontroller",
]
KINDS = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
]
_API = {
    "Pod": "v1",
    "ReplicationController": "v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
}
WORKLOAD = "w"

# Labels a template may carry, and the keys controllers add (k8s.io/kubernetes
# v1.37.2, pkg/controller/{deployment,statefulset,daemon,job}, and the job-name labels
# kube-apiserver writes into a Job's template).
_LABELS = {"app": ["web", "api"], "tier": ["front", "back"], "role": ["db"]}
_CONTROLLER_KEYS = [
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "pod-template-generation",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
]
_ABSENT = object()  # a field left out, as against one written as null
_RULES: list[Any] = [
    _ABSENT,
    None,
    [],
    [{}],
    [{"PEERS": None}],
    [{"PEERS": []}],
    [{"PEERS": [{"podSelector": {}}]}],
    [{"PEERS": [{"namespaceSelector": {}}]}],
    [{"PEERS": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
    [{"ports": [{"port": 80}]}],
    [{"ports": [], "PEERS": []}],
    [{"ports": None, "PEERS": None}],
    [{"PEERS": [{"podSelector": {"matchLabels": {"app": "web"}}}]}, {}],
    # addresses and ports, as NSA-2.8 reads them (the metadata endpoints on 80/TCP)
    [{"PEERS": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
    [
        {
            "PEERS": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "100.64.0.0/10"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::/32"]}},
            ]
        }
    ],
    [{"PEERS": [{"ipBlock": {"cidr": "::/0"}}]}],
    [{"PEERS": [{"ipBlock": {"cidr": "169.254.0.0/16"}}], "ports": [{"port": 80}]}],
    [{"PEERS": [{"ipBlock": {"cidr": "100.64.0.0/10"}}]}],
    [{"ports": [{"port": 443}]}],
    [{"ports": [{"port": 1, "endPort": 1024}]}],
    [{"ports": [{"port": "http"}]}],
    [{"ports": [{"protocol": "UDP", "port": 80}]}],
    [{"ports": [{"protocol": "TCP"}]}],
]
_TYPES: list[Any] = [_ABSENT, _ABSENT, None, [], ["Ingress"], ["Egress"], ["Ingress", "Egress"]]


@dataclass(frozen=True)
class Case:
    namespace: str
    workload: dict[str, Any]
    policies: list[dict[str, Any]]


def generate(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [_case(rng, i) for i in range(count)]


def _case(rng: random.Random, index: int) -> Case:
    namespace = f"{NAMESPACE_PREFIX}{index}"
    kind = rng.choice(KINDS)
    labels = {k: rng.choice(v) for k, v in _LABELS.items() if rng.random() < 0.6}
    policies = [
        _policy(rng, namespace, f"np-{i}", kind) for i in range(rng.choice([0, 1, 1, 2, 2, 3]))
    ]
    if rng.random() < 0.5:
        policies.append(_default_deny(rng, namespace, f"np-{len(policies)}"))
    return Case(namespace, _workload(kind, namespace, labels), policies)


def _default_deny(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    """A default deny as operators write it, in its spellings, and its common slip:
    without policyTypes and without egress rules a policy isolates ingress only."""
    spec: dict[str, Any] = {}
    for field, choices in (
        ("podSelector", [_ABSENT, {}, {"matchLabels": {}}, {"matchExpressions": []}]),
        ("policyTypes", [["Ingress", "Egress"], ["Egress", "Ingress"], _ABSENT, None, []]),
        ("ingress", [_ABSENT, None, []]),
        ("egress", [_ABSENT, None, []]),
    ):
        value = rng.choice(choices)
        if value is not _ABSENT:
            spec[field] = value
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _policy(rng: random.Random, namespace: str, name: str, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    selector = _selector(rng, kind)
    if selector is not _ABSENT:
        spec["podSelector"] = selector
    for field, peers in (("ingress", "from"), ("egress", "to")):
        rules = rng.choice(_RULES)
        if rules is not _ABSENT:
            spec[field] = _rules(rules, peers)
    types = rng.choice(_TYPES)
    if types is not _ABSENT:
        spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _rules(rules: list[dict[str, Any]] | None, peers: str) -> list[dict[str, Any]] | None:
    if rules is None:
        return None
    return [{(peers if k == "PEERS" else k): v for k, v in rule.items()} for rule in rules]


def _selector(rng: random.Random, kind: str) -> Any:
    """A pod selector: absent, empty, on template labels (values that match or not,
    every operator), on controller keys (Exists or DoesNotExist), or on a Job's name."""
    shape = rng.randrange(6)
    if shape == 0:
        return _ABSENT
    if shape == 1:
        return {}
    selector: dict[str, Any] = {}
    if rng.random() < 0.5:
        key = rng.choice(list(_LABELS))
        selector["matchLabels"] = {key: rng.choice(_LABELS[key])}
    expressions: list[dict[str, Any]] = []
    for _ in range(rng.choice([0, 1, 1, 2])):
        if rng.random() < 0.4:
            key = rng.choice(_CONTROLLER_KEYS)
            expressions.append({"key": key, "operator": rng.choice(["Exists", "DoesNotExist"])})
        elif kind == "Job" and rng.random() < 0.3:
            key = rng.choice(["job-name", "batch.kubernetes.io/job-name"])
            values = [rng.choice([WORKLOAD, "other"])]
            expressions.append(
                {"key": key, "operator": rng.choice(["In", "NotIn"]), "values": values}
            )
        else:
            key = rng.choice(list(_LABELS))
            operator = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
            expression: dict[str, Any] = {"key": key, "operator": operator}
            if operator in ("In", "NotIn"):
                expression["values"] = rng.sample(_LABELS[key], k=1)
            expressions.append(expression)
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def _workload(kind: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    pod_spec = {
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
    }
    metadata = {"name": WORKLOAD, "namespace": namespace}
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {**metadata, "labels": labels},
            "spec": pod_spec,
        }
    own = {"oracle.pac-harness.io/workload": WORKLOAD}  # what the workload selects its pods by
    template = {"metadata": {"labels": {**labels, **own}}, "spec": pod_spec}
    spec: dict[str, Any] = {"template": template}
    if kind in ("Job", "CronJob"):
        template["spec"] = {**pod_spec, "restartPolicy": "Never"}
        if kind == "CronJob":  # the controller makes its first Job within a minute
            spec = {"schedule": "* * * * *", "jobTemplate": {"spec": spec}}
    elif kind == "ReplicationController":
        spec.update(replicas=1, selector=own)
    else:
        spec["selector"] = {"matchLabels": own}
        if kind != "DaemonSet":
            spec["replicas"] = 1
        if kind == "StatefulSet":
            spec["serviceName"] = WORKLOAD
    return {"apiVersion": _API[kind], "kind": kind, "metadata": metadata, "spec": spec}


def api_path(body: dict[str, Any]) -> str:
    version = body["apiVersion"]
    base = f"/api/{version}" if "/" not in version else f"/apis/{version}"
    resource = {"NetworkPolicy": "networkpolicies", "ServiceAccount": "serviceaccounts"}.get(
        body["kind"], body["kind"].lower() + "s"
    )
    return f"{base}/namespaces/{body['metadata']['namespace']}/{resource}"


def matcher(request: dict[str, Any]) -> list[dict[str, Any]]:
    """cyclonus's answers for request's pods (see netpolmatcher/main.go)."""
    answers: list[dict[str, Any]] = _run_matcher(request)["pods"]
    return answers


def traffic(
    policies: list[dict[str, Any]], connections: list[dict[str, Any]]
) -> list[dict[str, bool]]:
    """cyclonus's answers for connections between pods: {ingress, egress} allowed."""
    answers: list[dict[str, bool]] = _run_matcher(
        {"policies": policies, "pods": [], "traffic": connections}
    )["traffic"]
    return answers


def _run_matcher(request: dict[str, Any]) -> dict[str, Any]:
    from harness.errors import HarnessError
    from harness.infra import tools

    binary = tools.go_program(MATCHER_SOURCE, "netpolmatcher")
    result = subprocess.run(
        [str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise HarnessError(f"netpolmatcher failed: {result.stderr.strip()[-300:]}")
    response: dict[str, Any] = json.loads(result.stdout)
    return response


@dataclass(frozen=True)
class Outcome:
    case: Case
    pod_labels: dict[str, str]
    stored: list[dict[str, Any]]  # the case's NetworkPolicies as kube-apiserver stored them
    answer: dict[str, Any]  # cyclonus's, per direction
    oracle: dict[str, bool]  # control -> the control is broken (the policy should deny)
    ours: dict[str, bool]  # control -> the policy denies the workload

    @property
    def disagreements(self) -> list[str]:
        return [c for c in CONTROLS if self.oracle[c] != self.ours[c]]


def broken(answer: dict[str, Any], policies: int) -> dict[str, bool]:
    """What the controls ask, from cyclonus's answer: NSA-2.2 is broken when the pod is
    not isolated in a direction or a policy lets all of it through; CIS-5.3.2 when the
    namespace holds no NetworkPolicy; NSA-2.8 when the pod's egress to some cloud
    metadata endpoint on 80/TCP is allowed."""
    nsa = any(not d["isolated"] or d["allow_all"] for d in (answer["ingress"], answer["egress"]))
    metadata = any(answer["metadata_egress"].values())
    return {"NSA-2.2": nsa, "CIS-5.3.2": policies == 0, "NSA-2.8": metadata}


def metadata_egress(
    policies: list[dict[str, Any]], pods: list[dict[str, Any]], addresses: list[str]
) -> list[dict[str, bool]]:
    """Per pod ({namespace, labels}), address -> cyclonus lets its egress reach that
    address (outside the cluster) on 80/TCP."""
    connections = [
        {
            "source": {
                "namespace": pod["namespace"],
                "labels": pod["labels"],
                "namespace_labels": {"kubernetes.io/metadata.name": pod["namespace"]},
                "ip": "10.244.0.10",
            },
            "destination": {"namespace": "", "labels": {}, "namespace_labels": {}, "ip": address},
            "port": METADATA_PORT,
        }
        for pod in pods
        for address in addresses
    ]
    answers = iter(traffic(policies, connections))
    return [{address: next(answers)["egress"] for address in addresses} for _ in pods]


def run(
    count: int, seed: int, out: Path, progress: Callable[[], None], live: int = 0
) -> dict[str, Any]:
    """The whole oracle run; writes summary.json and cases.jsonl.gz. progress() ticks
    per case created, the slow part (the matcher and the policy take seconds for all).
    live > 0: that many cases are also probed on a kind cluster's network plugin
    (harness.checks.netpollive; summary's live, every connection in live.json)."""
    from kubernetes import config as kube_config

    from harness.errors import TargetError
    from harness.infra import kubeapi
    from harness.infra.controlplane import LocalControlPlane
    from harness.model import inputs
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config
    from harness.model.manifests import admission_review, cluster_state
    from harness.model.policies import policy_set
    from harness.targets.wasm import WasmTarget

    catalog = load_catalog()
    queries = {c: catalog.get(c).entrypoint_at("admission") for c in CONTROLS}
    cases = generate(count, seed)
    matcher({"policies": [], "pods": []})  # built before the control plane starts
    cluster = LocalControlPlane()
    cluster.start()
    try:
        cluster.start_controllers(CONTROLLERS)
        api = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))
        _add_node(api)
        for case in cases:
            _create(api, case)
            progress()
        pods = _first_pods(api, cases)
        stored = _stored_policies(api)
    except kubeapi.ApiError as exc:
        raise TargetError(
            f"NetworkPolicy oracle: kube-apiserver answered {exc.status}: {exc}"
        ) from None
    finally:
        cluster.stop()

    request = {
        "policies": [p for case in cases for p in stored.get(case.namespace, [])],
        "pods": [{"namespace": c.namespace, "labels": pods[c.namespace]} for c in cases],
    }
    addresses = load_config()["cloud_metadata"]["addresses"]
    egress = metadata_egress(request["policies"], request["pods"], addresses)
    answers = [
        {**answer, "metadata_egress": reach}
        for answer, reach in zip(matcher(request), egress, strict=True)
    ]
    state = cluster_state(p for case in cases for p in case.policies)
    engine = WasmTarget()
    engine.start(policy_set(queries.values(), state))
    outcomes = []
    try:
        for case, answer in zip(cases, answers, strict=True):
            review = admission_review(case.workload)
            ours = {
                c: not engine.decide(engine.prepare(review, q)).allowed for c, q in queries.items()
            }
            oracle = broken(answer, len(stored.get(case.namespace, [])))
            outcomes.append(
                Outcome(
                    case, pods[case.namespace], stored.get(case.namespace, []), answer, oracle, ours
                )
            )
    finally:
        engine.close()
    probes = None
    if live:
        from harness.checks import netpollive

        probes = netpollive.run(netpollive.sample(cases, live, seed))
    return write(out, seed, outcomes, inputs.digest(load_config()), probes)


def _add_node(api: Any) -> None:
    """A node for the DaemonSets, without the not-ready taint kube-apiserver's
    TaintNodesByCondition plugin gives a new node (no kubelet here reports it ready, and
    daemon pods tolerate not-ready only for NoExecute)."""
    from harness.infra import kubeapi

    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
    created = json.loads(kubeapi.request(api, "POST", "/api/v1/nodes", node))
    created["spec"]["taints"] = []
    kubeapi.request(api, "PUT", f"/api/v1/nodes/{NODE}", created)


def _create(api: Any, case: Case) -> None:
    from harness.infra import kubeapi

    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": case.namespace}}
    kubeapi.request(api, "POST", "/api/v1/namespaces", namespace)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": case.namespace},
    }
    for body in (account, *case.policies, case.workload):
        kubeapi.request(api, "POST", api_path(body), body)


def _first_pods(api: Any, cases: list[Case]) -> dict[str, dict[str, str]]:
    """namespace -> the labels of the first pod there, once every case has one."""
    from harness.errors import TargetError
    from harness.infra import kubeapi

    deadline = time.monotonic() + PODS_TIMEOUT_S
    wanted = {c.namespace for c in cases}
    while True:
        listed = json.loads(kubeapi.request(api, "GET", "/api/v1/pods"))["items"]
        found: dict[str, dict[str, str]] = {}
        for pod in sorted(listed, key=lambda p: p["metadata"]["name"]):
            ns = pod["metadata"]["namespace"]
            if ns in wanted:
                found.setdefault(ns, pod["metadata"].get("labels") or {})
        missing = wanted - set(found)
        if not missing:
            return found
        if time.monotonic() > deadline:
            raise TargetError(
                f"NetworkPolicy oracle: no pod in {len(missing)} namespace(s) after "
                f"{PODS_TIMEOUT_S} s (first: {sorted(missing)[0]})"
            )
        time.sleep(1)


def _stored_policies(api: Any) -> dict[str, list[dict[str, Any]]]:
    from harness.infra import kubeapi

    listed = json.loads(kubeapi.request(api, "GET", "/apis/networking.k8s.io/v1/networkpolicies"))
    stored: dict[str, list[dict[str, Any]]] = {}
    for policy in listed["items"]:
        stored.setdefault(policy["metadata"]["namespace"], []).append(policy)
    return stored


def write(
    out: Path,
    seed: int,
    outcomes: list[Outcome],
    fingerprint: dict[str, str],
    live: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cases = (
        {
            "namespace": o.case.namespace,
            "workload": o.case.workload,
            "policies": o.case.policies,
            "stored": o.stored,
            "pod_labels": o.pod_labels,
            "cyclonus": o.answer,
            "oracle": o.oracle,
            "ours": o.ours,
        }
        for o in outcomes
    )
    summary = {
        "oracle": "cyclonus v0.5.6 NetworkPolicy matcher, on NetworkPolicies stored by "
        "kube-apiserver v1.37.2 and pods made by kube-controller-manager's workload controllers",
        "seed": seed,
        "cases": len(outcomes),
        "kinds": {k: sum(o.case.workload["kind"] == k for o in outcomes) for k in KINDS},
        "policies": sum(len(o.case.policies) for o in outcomes),
        "broken_by_oracle": {c: sum(o.oracle[c] for o in outcomes) for c in CONTROLS},
        "disagreements": [
            {
                "namespace": o.case.namespace,
                "kind": o.case.workload["kind"],
                "control": c,
                **verdicts(o.oracle[c], o.ours[c]),
            }
            for o in outcomes
            for c in o.disagreements
        ],
        "inputs": fingerprint,
    }
    if live is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "live.json").write_text(json.dumps(live["rows"], indent=1) + "\n")
        summary["live"] = {k: v for k, v in live.items() if k != "rows"}
    return write_run(out, cases, summary)
