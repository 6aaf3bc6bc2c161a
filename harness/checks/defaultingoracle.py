"""The defaulting oracle: model.defaulting against kube-apiserver's own defaulting.

Offline, policies judge what model.defaulting makes of a manifest; behind a webhook
they judge what kube-apiserver v1.37 stored. Each object of the corpus goes through
the real API server (server-side dry-run create on the local control plane, which
returns the object as stored) and through model.defaulting; the two must give the
same verdict of every admission control (the combined query, messages included) and
the same value in every field model.defaulting claims. The corpus: every object the
fixtures create (subjects and cluster state), the fuzzer's mutated pods, and generated
NetworkPolicies and LimitRanges whose fields are absent, null, empty or set. The seed
makes it repeatable.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks.oraclerun import write_run
from harness.model.defaulting import admitted

NAMESPACE = "pac-harness-defaulting"
# Kinds whose stored form feeds a policy: the reviewed ones judged, the state compared.
_STATE_KINDS = {"NetworkPolicy", "LimitRange"}
# Pod fields that name other objects the admission plugins would look up.
_REFERENCES = ("runtimeClassName", "priorityClassName")


@dataclass(frozen=True)
class Case:
    id: str
    source: str  # fixture, fuzz or generated
    body: dict[str, Any]


def fixture_cases(fixtures: Any) -> Iterator[Case]:
    """The CREATEs the fixtures make: subjects and their state, in the oracle's namespace."""
    for fixture in fixtures:
        if fixture.point != "admission" or fixture.operation != "CREATE":
            continue
        for doc in (*fixture.state, fixture.subject):
            if doc.kind in _STATE_KINDS or doc is fixture.subject:
                yield Case(f"{fixture.id}#{doc.index}", "fixture", _placed(doc.body, doc.index))


def fuzz_cases(fixtures: Any, count: int, seed: int) -> Iterator[Case]:
    """The fuzzer's mutated pods (checks.fuzz), as they were written."""
    from harness.checks import fuzz

    for mutant in fuzz.generate(fuzz.bases_from_fixtures(fixtures), count, seed):
        yield Case(mutant.id, "fuzz", _placed(mutant.pod, 0))


_SELECTORS: list[Any] = [
    "absent",
    None,
    {},
    {"matchLabels": {"app": "web"}},
    {"matchLabels": None, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
]
_LISTS: list[Any] = ["absent", None, []]
_PEERS: list[Any] = [*_LISTS, [{"podSelector": {}}], [{"ipBlock": {"cidr": "10.0.0.0/8"}}]]
_PORTS: list[Any] = [*_LISTS, [{"port": 80}], [{"protocol": "UDP", "port": 53}]]
_TYPES: list[Any] = [*_LISTS, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]
_QUANTITIES: list[Any] = [
    "absent",
    None,
    {},
    {"cpu": "500m"},
    {"memory": "256Mi"},
    {"cpu": "1", "memory": "1Gi"},
]


def generated_cases(count: int, seed: int) -> Iterator[Case]:
    """NetworkPolicies and LimitRanges with each field absent, null, empty or set."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 2 == 0:
            spec: dict[str, Any] = {}
            _put(spec, "podSelector", rng.choice(_SELECTORS))
            _put(spec, "policyTypes", rng.choice(_TYPES))
            for field, peers in (("ingress", "from"), ("egress", "to")):
                rules = rng.choice([*_LISTS, "rules"])
                if rules == "rules":
                    rules = []
                    for _ in range(rng.randint(1, 2)):
                        rule: dict[str, Any] = {}
                        _put(rule, peers, rng.choice(_PEERS))
                        _put(rule, "ports", rng.choice(_PORTS))
                        rules.append(rule)
                _put(spec, field, rules)
            body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": spec}
        else:
            item: dict[str, Any] = {"type": rng.choice(["Container", "Container", "Pod"])}
            for key in ("max", "min", "default", "defaultRequest"):
                _put(item, key, rng.choice(_QUANTITIES))
            body = {"apiVersion": "v1", "kind": "LimitRange", "spec": {"limits": [item]}}
        body["metadata"] = {"name": f"generated-{i}"}
        yield Case(f"generated-{i}", "generated", _placed(body, 0))


def _put(into: dict[str, Any], key: str, value: Any) -> None:
    if value != "absent":
        into[key] = copy.deepcopy(value)


def _placed(body: dict[str, Any], index: int) -> dict[str, Any]:
    """body in the oracle's namespace, with a name (generateName would differ per call)
    and without references to objects the oracle does not create."""
    body = copy.deepcopy(body)
    meta = body.setdefault("metadata", {}) or {}
    body["metadata"] = meta
    if not meta.get("name"):
        meta["name"] = (meta.pop("generateName", "") or "unnamed-").rstrip("-") + f"-{index}"
    meta.pop("generateName", None)
    if body.get("kind") not in {"ClusterRole", "ClusterRoleBinding", "Namespace"}:
        meta["namespace"] = NAMESPACE
    spec = _pod_spec(body)
    for key in _REFERENCES:
        spec.pop(key, None)
    return body


def _pod_spec(body: dict[str, Any]) -> dict[str, Any]:
    from harness.model.manifests import pod_spec

    return pod_spec(body) if isinstance(body.get("spec"), dict) else {}


def claimed(body: dict[str, Any]) -> Any:
    """The fields model.defaulting claims to produce, as the policies read them."""
    kind = body.get("kind")
    spec = body.get("spec") or {}
    if kind == "NetworkPolicy":
        return _without_protocols(spec)
    if kind == "LimitRange":
        return spec
    pod = _pod_spec(body)
    if not pod:
        return None
    account = pod.get("serviceAccountName")
    if kind == "Pod" and not account:
        account = "default"  # the ServiceAccount admission plugin's name for none
    volumes = [
        {"name": v.get("name"), "sources": sorted(k for k in v if k != "name")}
        for v in pod.get("volumes") or []
        if not str(v.get("name", "")).startswith("kube-api-access-")
    ]
    ports = [
        [p.get("hostPort") for p in c.get("ports") or []]
        for f in ("containers", "initContainers")
        for c in pod.get(f) or []
    ]
    return {
        "serviceAccountName": account,
        "serviceAccount": account if kind == "Pod" else pod.get("serviceAccount"),
        "securityContext": pod.get("securityContext"),
        "volumes": volumes,
        "hostPorts": ports,
    }


def _without_protocols(spec: dict[str, Any]) -> dict[str, Any]:
    """A NetworkPolicy's spec less the port protocol, which no policy reads and
    model.defaulting does not set."""
    spec = copy.deepcopy(spec)
    for field in ("ingress", "egress"):
        for rule in spec.get(field) or []:
            for port in rule.get("ports") or []:
                port.pop("protocol", None)
    return spec


@dataclass
class Outcome:
    case: Case
    status: str  # agree, disagree, invalid
    detail: str = ""


def compare(
    case: Case, stored: dict[str, Any] | None, judge: Callable[[dict[str, Any]], list[str]]
) -> Outcome:
    """One case: stored is what the API server returned (None: it refused the object)."""
    if stored is None:
        return Outcome(case, "invalid")
    ours = admitted(case.body)
    if claimed(ours) != claimed(stored):
        detail = json.dumps({"ours": claimed(ours), "api": claimed(stored)}, sort_keys=True)
        return Outcome(case, "disagree", "fields: " + detail)
    if case.body.get("kind") not in _STATE_KINDS:
        offline, online = judge(ours), judge(stored)
        if offline != online:
            detail = json.dumps({"offline": offline, "online": online})
            return Outcome(case, "disagree", "verdict: " + detail)
    return Outcome(case, "agree")


def summarise(outcomes: list[Outcome], seed: int, fingerprint: dict[str, str]) -> dict[str, Any]:
    by_source: dict[str, dict[str, int]] = {}
    for o in outcomes:
        counts = by_source.setdefault(o.case.source, {"agree": 0, "disagree": 0, "invalid": 0})
        counts[o.status] += 1
    return {
        "oracle": "kube-apiserver v1.37.2 defaulting (server-side dry-run create)",
        "seed": seed,
        "corpus": len(outcomes),
        "by_source": by_source,
        "kinds": sorted({o.case.body["kind"] for o in outcomes}),
        "compared": sum(o.status != "invalid" for o in outcomes),
        "disagreements": [
            {
                "id": o.case.id,
                "source": o.case.source,
                "kind": o.case.body["kind"],
                "detail": o.detail,
            }
            for o in outcomes
            if o.status == "disagree"
        ],
        "inputs": fingerprint,
    }


def corpus(seed: int, fuzz_count: int, generated: int) -> list[Case]:
    """Every case, in the order they run: the fixtures', the fuzzer's, the generated."""
    from harness.model.catalog import load_catalog
    from harness.model.fixtures import load_fixtures

    catalog = load_catalog()
    fixture_set = load_fixtures(c for c in catalog.with_policy if "admission" in c.points)
    return [
        *fixture_cases(fixture_set.unique),
        *fuzz_cases(fixture_set.unique, fuzz_count, seed),
        *generated_cases(generated, seed),
    ]


def run(cases: list[Case], seed: int, out: Path, progress: Callable[[], None]) -> dict[str, Any]:
    """The whole oracle run on the local control plane; writes summary.json and
    cases.jsonl.gz (every case, what the API server stored, and the outcome)."""

    from kubernetes import config as kube_config

    from harness.errors import TargetError
    from harness.infra import kubeapi
    from harness.infra.controlplane import LocalControlPlane
    from harness.model import inputs
    from harness.model.config import load_config
    from harness.model.manifests import REVIEWED, admission_review
    from harness.model.policies import COMBINED_QUERY, policy_set
    from harness.targets.kube import api_path
    from harness.targets.wasm import WasmTarget

    engine = WasmTarget()
    engine.start(policy_set([COMBINED_QUERY]))

    def judge(body: dict[str, Any]) -> list[str]:
        return list(engine.decide(engine.prepare(admission_review(body), COMBINED_QUERY)).messages)

    cluster = LocalControlPlane()
    cluster.start()
    outcomes: list[Outcome] = []
    stored_by_id: dict[str, Any] = {}
    try:
        api = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        kubeapi.request(api, "POST", "/api/v1/namespaces", namespace)
        for account in ("default", *_accounts(cases)):
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}
            kubeapi.request(api, "POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", body)
        for case in cases:
            kind = case.body["kind"]
            if kind not in REVIEWED and kind not in _STATE_KINDS:
                progress()
                continue
            path = api_path(case.body)
            try:
                raw = kubeapi.request(api, "POST", path, case.body, query=[("dryRun", "All")])
                stored = json.loads(raw)
            except kubeapi.ApiError as exc:
                if exc.status not in (400, 403, 404, 409, 422):
                    raise TargetError(f"kube-apiserver answered {exc.status}: {exc}") from None
                stored = None
            stored_by_id[case.id] = stored
            outcomes.append(compare(case, stored, judge))
            progress()
    finally:
        cluster.stop()
        engine.close()
    rows = (
        {
            "id": o.case.id,
            "source": o.case.source,
            "status": o.status,
            "body": o.case.body,
            "stored": stored_by_id.get(o.case.id),
        }
        for o in outcomes
    )
    return write_run(out, rows, summarise(outcomes, seed, inputs.digest(load_config())))


def _accounts(cases: list[Case]) -> set[str]:
    """Service accounts the pods name (the ServiceAccount admission plugin looks them up)."""
    names = set()
    for case in cases:
        spec = _pod_spec(case.body)
        for key in ("serviceAccountName", "serviceAccount"):
            if isinstance(spec.get(key), str) and spec[key]:
                names.add(spec[key])
    names.discard("default")
    return names
