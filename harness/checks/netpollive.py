"""Live probes: a sample of the NetworkPolicy oracle's cases on a real network plugin.

The oracle's answers come from cyclonus's matcher, a model of NetworkPolicy. This step
holds the model to what a plugin does: a sample of the generated cases (namespace,
policies, workload) is created on a throw-away kind cluster running kube-router, each
workload's pod serving ports 80 and 8080; from a probe namespace of its own, a client
connects to each pod and each pod connects to a server there, on both ports. The matcher
is asked the same connections with the pods' real addresses and labels (the driver's
traffic question: the same selection of pods, cyclonus's peers and ports). Every
connection must do what the matcher says. A disagreement is probed again for a bounded
while before it counts (kube-router programs policies within seconds, not at once).

Every connection is bounded (nc -w), the probes run a bounded number at a time, the
cluster is deleted afterwards, on failure and on Ctrl-C too. Traffic stays inside the
cluster's own pods.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.errors import TargetError

CLUSTER = "pac-harness-netpol-live"
PROBE_NAMESPACE = "pac-harness-netpol-probe"
PORTS = (80, 8080)
CONNECT_TIMEOUT_S = 2
READY_TIMEOUT_S = 300
RECHECK_S = 20  # how long a disagreement is probed again before it counts
WORKERS = 6
SERVE = f"nc -lk {PORTS[0]} & exec nc -lk {PORTS[1]}"

Kubectl = Callable[..., str]


def sample(cases: list[Any], count: int, seed: int) -> list[Any]:
    """count cases, spread over the workload kinds, repeatable from the seed."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Any]] = {}
    for case in cases:
        by_kind.setdefault(case.workload["kind"], []).append(case)
    chosen: list[Any] = []
    pools = [rng.sample(group, len(group)) for _, group in sorted(by_kind.items())]
    while len(chosen) < min(count, len(cases)):
        for pool in pools:
            if pool and len(chosen) < count:
                chosen.append(pool.pop())
    return sorted(chosen, key=lambda c: c.namespace)


def serving(workload: dict[str, Any], image: str) -> dict[str, Any]:
    """The workload with its containers replaced by one that serves PORTS (labels,
    selectors and kinds unchanged: they are what the policies read)."""
    body: dict[str, Any] = copy.deepcopy(workload)
    spec = body["spec"]
    if body["kind"] == "CronJob":  # one Job at a time: its server never ends
        spec["concurrencyPolicy"] = "Forbid"
        spec = spec["jobTemplate"]["spec"]
    pod_spec = body["spec"] if body["kind"] == "Pod" else spec["template"]["spec"]
    pod_spec["containers"] = [_container(image, ["sh", "-c", SERVE])]
    return body


def _container(image: str, command: list[str]) -> dict[str, Any]:
    return {"name": "c", "image": image, "imagePullPolicy": "Never", "command": command}


def _probe_pod(name: str, image: str, command: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": PROBE_NAMESPACE, "labels": {"probe": name}},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [_container(image, command)]},
    }


def run(cases: list[Any]) -> dict[str, Any]:
    """Create cases on a new kind cluster with kube-router, probe, compare with the
    matcher; returns {cni, cases, connections, disagreements, rows}."""
    from harness.infra import kind, kindimages

    binary = kind.check_prerequisites()
    cluster = kind.KindCluster(binary, kindimages.require_node_image(), "kube-router", CLUSTER)
    image = kindimages.debian_ref()
    try:
        cluster.create("recreate")
        cluster.install_cni()
        with tempfile.TemporaryDirectory(prefix="pac-harness-netpol-live-") as work:
            return _run_on(cluster.kubectl, cases, image, Path(work))
    finally:
        if cluster.created:
            with contextlib.suppress(TargetError):
                cluster.delete()
        cluster.cleanup()


def _apply(kubectl: Kubectl, objects: list[dict[str, Any]], work: Path, what: str) -> None:
    path = work / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    kubectl("apply", "-f", str(path), what=what, timeout=300)


def _run_on(kubectl: Kubectl, cases: list[Any], image: str, work: Path) -> dict[str, Any]:
    from harness.checks.netpoloracle import traffic

    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                  for n in [PROBE_NAMESPACE, *(c.namespace for c in cases)]]  # fmt: skip
    _apply(kubectl, namespaces, work, "creating the namespaces")
    probes = [
        _probe_pod("client", image, ["sleep", "infinity"]),
        _probe_pod("server", image, ["sh", "-c", SERVE]),
    ]
    objects = [*probes, *(p for c in cases for p in c.policies)]
    objects += [serving(c.workload, image) for c in cases]
    _apply(kubectl, objects, work, "creating the sampled cases")
    pods = _ready_pods(kubectl, {PROBE_NAMESPACE, *(c.namespace for c in cases)})
    labels = _namespace_labels(kubectl)
    stored = json.loads(
        kubectl("get", "networkpolicies", "-A", "-o", "json", what="listing policies")
    )
    client, server = pods[(PROBE_NAMESPACE, "client")], pods[(PROBE_NAMESPACE, "server")]

    def peer(pod: dict[str, Any]) -> dict[str, Any]:
        ns = pod["metadata"]["namespace"]
        return {"namespace": ns, "labels": pod["metadata"].get("labels") or {},
                "namespace_labels": labels[ns], "ip": pod["status"]["podIP"]}  # fmt: skip

    connections: list[dict[str, Any]] = []
    for case in cases:
        pod = next(p for (ns, _), p in sorted(pods.items()) if ns == case.namespace)
        for port in PORTS:
            connections.append({"case": case.namespace, "direction": "ingress", "port": port,
                                "from": client, "to": pod})  # fmt: skip
            connections.append({"case": case.namespace, "direction": "egress", "port": port,
                                "from": pod, "to": server})  # fmt: skip
    predicted = traffic(
        stored["items"],
        [{"source": peer(c["from"]), "destination": peer(c["to"]), "port": c["port"]}
         for c in connections],
    )  # fmt: skip

    def observe(i: int) -> dict[str, Any]:
        c, answer = connections[i], predicted[i]
        expected = answer["ingress"] and answer["egress"]
        reached = _connects(kubectl, c["from"], c["to"]["status"]["podIP"], c["port"])
        deadline = time.monotonic() + RECHECK_S
        while reached != expected and time.monotonic() < deadline:
            time.sleep(2)
            reached = _connects(kubectl, c["from"], c["to"]["status"]["podIP"], c["port"])
        return {"case": c["case"], "direction": c["direction"], "port": c["port"],
                "matcher": "allowed" if expected else "denied",
                "plugin": "allowed" if reached else "denied"}  # fmt: skip

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        rows = list(pool.map(observe, range(len(connections))))
    return {
        "cluster": "kind, kube-router (the kind target's images)",
        "cases": len(cases),
        "kinds": sorted({c.workload["kind"] for c in cases}),
        "connections": len(rows),
        "allowed_by_matcher": sum(r["matcher"] == "allowed" for r in rows),
        "disagreements": [r for r in rows if r["matcher"] != r["plugin"]],
        "rows": rows,
    }


def _connects(kubectl: Kubectl, pod: dict[str, Any], address: str, port: int) -> bool:
    meta = pod["metadata"]
    try:
        kubectl(
            "-n", meta["namespace"], "exec", meta["name"], "--",
            "nc", "-z", "-w", str(CONNECT_TIMEOUT_S), address, str(port),
            what="probe connection", timeout=30,
        )  # fmt: skip
    except TargetError:
        return False
    return True


def _ready_pods(kubectl: Kubectl, namespaces: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> pod, once every namespace has a Running pod with an address
    (a DaemonSet's or a CronJob's may take a minute)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        listed = json.loads(kubectl("get", "pods", "-A", "-o", "json", what="listing pods"))
        pods = {
            (p["metadata"]["namespace"], p["metadata"]["name"]): p
            for p in listed["items"]
            if p["metadata"]["namespace"] in namespaces
            and p.get("status", {}).get("phase") == "Running"
            and p["status"].get("podIP")
        }
        missing = namespaces - {ns for ns, _ in pods}
        if (
            not missing
            and (PROBE_NAMESPACE, "server") in pods
            and (PROBE_NAMESPACE, "client") in pods
        ):
            return pods
        if time.monotonic() > deadline:
            raise TargetError(
                f"live NetworkPolicy probes: no running pod in {len(missing)} namespace(s) after "
                f"{READY_TIMEOUT_S} s (first: {sorted(missing or {PROBE_NAMESPACE})[0]})"
            )
        time.sleep(2)


def _namespace_labels(kubectl: Kubectl) -> dict[str, dict[str, str]]:
    listed = json.loads(kubectl("get", "namespaces", "-o", "json", what="listing namespaces"))
    return {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in listed["items"]}
