"""Evidence that a cluster's CNI enforces NetworkPolicy, not only that it claims to: in a
throw-away namespace a client pod reaches a server pod's port; once a default-deny
ingress policy exists the same connection must stop within a bound, and once it is
deleted the connection must work again. The namespace is deleted afterwards, whatever
happened."""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import TargetError

NAMESPACE_PREFIX = "pac-harness-netprobe-"  # plus a random suffix: a namespace still
# terminating from an earlier probe cannot get in the way
PORT = 8080
READY_TIMEOUT = "180s"
ENFORCE_TIMEOUT_S = 60  # kube-router and Calico apply policies within seconds

Kubectl = Callable[..., str]  # kubectl(*args, what=...) -> stdout, raising TargetError


def _pod(namespace: str, name: str, image: str, command: list[str], pull: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": name, "image": image, "imagePullPolicy": pull, "command": command}
            ],
        },
    }


def _deny_all(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def _reaches(kubectl: Kubectl, namespace: str, address: str) -> bool:
    try:
        kubectl(
            "-n", namespace, "exec", "client", "--", "nc", "-z", "-w", "2", address, str(PORT),
            what="probe connection", timeout=30,
        )  # fmt: skip
    except TargetError:
        return False
    return True


def _eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + ENFORCE_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def _apply(kubectl: Kubectl, obj: dict[str, Any], what: str, workdir: Path) -> None:
    path = workdir / f"{obj['metadata']['name']}.json"
    path.write_text(json.dumps(obj))
    kubectl("apply", "-f", str(path), what=what)


def probe(kubectl: Kubectl, image: str, workdir: Path, pull: str = "Never") -> dict[str, Any]:
    """{reached_before, blocked_after, seconds_to_block, reached_again, enforces}; raises
    TargetError when the probe pods cannot run at all. image needs nc (netcat-openbsd);
    pull is the pods' imagePullPolicy (Never for an image loaded into kind's nodes)."""
    namespace = NAMESPACE_PREFIX + secrets.token_hex(3)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    _apply(kubectl, ns, "creating the probe namespace", workdir)
    try:
        for name, command in (
            ("server", ["nc", "-lk", str(PORT)]),
            ("client", ["sleep", "infinity"]),
        ):
            _apply(kubectl, _pod(namespace, name, image, command, pull), f"{name} pod", workdir)
        kubectl(
            "-n", namespace, "wait", "--for=condition=Ready", "pod/server", "pod/client",
            f"--timeout={READY_TIMEOUT}", what="waiting for the probe pods", timeout=200,
        )  # fmt: skip
        address = kubectl(
            "-n", namespace, "get", "pod", "server", "-o", "jsonpath={.status.podIP}",
            what="reading the server's address",
        ).strip()  # fmt: skip

        def reaches() -> bool:
            return _reaches(kubectl, namespace, address)

        reached = reaches()
        _apply(kubectl, _deny_all(namespace), "creating the deny-all policy", workdir)
        start = time.monotonic()
        blocked = _eventually(lambda: not reaches())
        seconds = round(time.monotonic() - start, 1) if blocked else None
        # And back: without the policy the same connection works again, so it was the
        # policy, not a dying server, that stopped it.
        kubectl("-n", namespace, "delete", "networkpolicy", "default-deny",
                what="deleting the deny-all policy")  # fmt: skip
        restored = _eventually(reaches)
        result = {"reached_before": reached, "blocked_after": blocked,
                  "seconds_to_block": seconds, "reached_again": restored}  # fmt: skip
        return {**result, "enforces": enforces(result)}
    finally:
        with contextlib.suppress(TargetError):
            kubectl("delete", "namespace", namespace, "--wait=false", what="probe cleanup")


def enforces(result: dict[str, Any]) -> bool:
    return all(result.get(k) for k in ("reached_before", "blocked_after", "reached_again"))


def ready_nodes(kubectl: Kubectl) -> int:
    """Nodes that could run the probe's pods; a control plane without nodes (the local
    target) has none, and the probe is not worth waiting for there."""
    nodes = json.loads(kubectl("get", "nodes", "-o", "json", what="listing nodes"))["items"]
    return sum(
        1
        for node in nodes
        if not node.get("spec", {}).get("unschedulable")
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in node.get("status", {}).get("conditions", [])
        )
    )


def probe_cluster(
    kubeconfig: Path | None,
    context: str | None,
    image: str,
    note: Callable[[str], None] | None,
    fallback: str,
) -> dict[str, Any] | None:
    """The probe on the cluster a kubeconfig names; None when it cannot run there (no
    node, no permission, no image), with a note saying why and what happens instead
    (fallback); notes go to stderr unless note is given."""
    from harness.infra import kind, kindimages

    note = note or _stderr
    kubectl = kind.kubectl_runner(kubeconfig, context)
    # Images built here are loaded into kind's nodes and never pulled.
    pull = "Never" if image.startswith(kindimages.REPOSITORY + "/") else "IfNotPresent"
    try:
        if ready_nodes(kubectl) == 0:
            raise TargetError("no Ready, schedulable node to run its pods on")
        note(f"probing NetworkPolicy enforcement with {image} in a throw-away namespace")
        with tempfile.TemporaryDirectory(prefix="pac-harness-probe-") as workdir:
            return probe(kubectl, image, Path(workdir), pull)
    except TargetError as exc:
        note(f"no network-policy probe ({exc}); {fallback}")
        return None


def _stderr(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def document(result: dict[str, Any]) -> dict[str, Any]:
    """The probe as the audit policies read it (CIS-5.3.1, lib/audit.rego): one more
    object beside the cluster's, so a saved state carries its evidence with it."""
    keys = ("reached_before", "blocked_after", "seconds_to_block", "reached_again")
    status = {_camel(k): result.get(k) for k in keys}
    return {
        "apiVersion": "pac-harness.io/v1",
        "kind": "NetworkPolicyProbe",
        "metadata": {"name": "network-policy-probe"},
        "status": status,
    }


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)
