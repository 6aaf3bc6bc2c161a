"""The RBAC oracle: CIS-5.1.2, 5.1.3, 5.1.4 and 5.1.8 against the RBAC authorizer.

Each control says what a role must not let its subjects do. The oracle asks the real
authorizer: generated ClusterRoles (rules drawn from a vocabulary of verbs, API groups,
resources, subresources, resource names and non-resource URLs, in every spelling the
authorizer reads differently, and aggregated roles whose selectors match generated and
bootstrapped roles) are created on a control plane running kube-controller-manager's
ClusterRole aggregation controller; each is bound to a user of its own, and
SubjectAccessReviews ask what that user may do (read secrets, create pods or
pod-creating workloads, bind, escalate or impersonate, and requests with made-up verbs,
resources, groups, subresources and URL paths that only a wildcard admits). The policy
judges each role as written at admission, with the cluster's ClusterRoles (aggregated
by the controller) as the state kube-mgmt would replicate. The seed makes it repeatable.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks.oraclerun import verdicts, write_run

CONTROLS = ("CIS-5.1.2", "CIS-5.1.3", "CIS-5.1.4", "CIS-5.1.8")
RBAC = "rbac.authorization.k8s.io"
NAMESPACE = "pac-harness-oracle"
SETTLE_TIMEOUT_S = 180

_VERBS = ["get", "list", "watch", "create", "update", "bind", "escalate", "impersonate", "*", "GET"]
_RESOURCES = [
    ("", "secrets"),
    ("", "Secrets"),
    ("", "pods"),
    ("", "pods/exec"),
    ("", "replicationcontrollers"),
    ("", "deployments"),
    ("apps", "deployments"),
    ("apps", "pods"),
    ("batch", "cronjobs"),
    ("batch", "jobs"),
    (RBAC, "roles"),
    (RBAC, "clusterroles"),
    ("", "roles"),
    ("", "users"),
    ("", "groups"),
    ("", "serviceaccounts"),
    (RBAC, "users"),
    ("", "*"),
    ("*", "secrets"),
    ("*", "*"),
    ("", "*/status"),
    ("apps", "*/scale"),
    ("", "configmaps"),
]
_URLS = ["/metrics", "/api/*", "*", "/healthz", "/logs/"]
_SELECTORS: list[dict[str, Any]] = [
    {},
    {"matchLabels": {"oracle.pac-harness.io/team": "a"}},
    {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
    {
        "matchExpressions": [
            {"key": "oracle.pac-harness.io/team", "operator": "In", "values": ["a", "b"]}
        ]
    },
    {"matchExpressions": [{"key": "oracle.pac-harness.io/team", "operator": "DoesNotExist"}]},
    {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
]
# Values no real request uses: a wildcard is what admits them.
PROBE_VERB, PROBE_RESOURCE, PROBE_GROUP, PROBE_PATH = (
    "pac-harness-verb",
    "pacharnessprobes",
    "probe.pac-harness.io",
    "pac-harness-probe",
)


def generate(count: int, seed: int) -> list[dict[str, Any]]:
    """count ClusterRoles: about one in four aggregates others."""
    rng = random.Random(seed)
    roles = []
    for i in range(count):
        meta: dict[str, Any] = {"name": f"pac-harness-oracle-{i}"}
        team = rng.choice([None, "a", "b", "c"])
        if team:
            meta["labels"] = {"oracle.pac-harness.io/team": team}
        role: dict[str, Any] = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": meta}
        if rng.random() < 0.25:
            role["aggregationRule"] = {
                "clusterRoleSelectors": [copy.deepcopy(rng.choice(_SELECTORS))]
            }
            role["rules"] = []
        else:
            role["rules"] = [_rule(rng) for _ in range(rng.randint(1, 3))]
        roles.append(role)
    return roles


def _rule(rng: random.Random) -> dict[str, Any]:
    verbs = sorted(set(rng.sample(_VERBS, rng.randint(1, 2))))
    if rng.random() < 0.15:
        return {"verbs": verbs, "nonResourceURLs": [rng.choice(_URLS)]}
    pairs = rng.sample(_RESOURCES, rng.randint(1, 2))
    rule = {
        "verbs": verbs,
        "apiGroups": sorted({g for g, _ in pairs}),
        "resources": sorted({r for _, r in pairs}),
    }
    if rng.random() < 0.15:
        rule["resourceNames"] = ["db"]
    return rule


def probes(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """control -> the requests whose admission by the authorizer breaks it, for a role
    holding rules (as the API server holds them, aggregated)."""
    names = sorted({n for r in rules for n in r.get("resourceNames") or []})
    found: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTROLS}

    def resource(verb: str, group: str, res: str, sub: str = "") -> list[dict[str, Any]]:
        return [
            {"verb": verb, "group": group, "resource": res, "subresource": sub, "name": n}
            for n in ["", *names]
        ]

    for verb in ("get", "list", "watch"):
        found["CIS-5.1.2"] += resource(verb, "", "secrets")
    for group, res in (("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"),
                       ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
                       ("batch", "jobs"), ("batch", "cronjobs")):  # fmt: skip
        found["CIS-5.1.4"] += resource("create", group, res)
    for verb in ("bind", "escalate"):
        for res in ("roles", "clusterroles"):
            found["CIS-5.1.8"] += resource(verb, RBAC, res)
    for res in ("users", "groups", "serviceaccounts"):
        found["CIS-5.1.8"] += resource("impersonate", "", res)
    for rule in rules:
        found["CIS-5.1.3"] += _wildcard_probes(rule)
    return found


def _wildcard_probes(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests only a wildcard in this rule admits: one made-up value at a time, the
    rest taken from the rule."""
    verb = _concrete(rule.get("verbs"), "get")
    if rule.get("nonResourceURLs"):
        out = []
        for url in rule["nonResourceURLs"]:
            concrete = url.rstrip("*") + PROBE_PATH if url.endswith("*") else url
            out.append({"verb": PROBE_VERB, "path": concrete})
            if url.endswith("*"):
                out.append({"verb": verb, "path": concrete})
        return out
    group = _concrete(rule.get("apiGroups"), "")
    res = _concrete(rule.get("resources"), "pods")
    name = (rule.get("resourceNames") or [""])[0]
    main, _, sub = res.partition("/")
    base = {"name": name, "subresource": sub}
    out = [
        {**base, "verb": PROBE_VERB, "group": group, "resource": main},
        {**base, "verb": verb, "group": PROBE_GROUP, "resource": main},
        {**base, "verb": verb, "group": group, "resource": PROBE_RESOURCE},
    ]
    for pattern in rule.get("resources") or []:
        if pattern.startswith("*/"):
            out.append({"name": name, "verb": verb, "group": group, "resource": PROBE_RESOURCE,
                        "subresource": pattern[2:]})  # fmt: skip
    return out


def _concrete(values: list[str] | None, fallback: str) -> str:
    return next((v for v in values or [] if "*" not in v), fallback)


@dataclass
class Outcome:
    role: dict[str, Any]
    held: list[dict[str, Any]]  # the rules the API server holds for it, aggregated
    oracle: dict[str, bool]  # control -> the authorizer admits a request that breaks it
    ours: dict[str, bool]  # control -> our policy denies the role

    @property
    def disagreements(self) -> list[str]:
        return [c for c in CONTROLS if self.oracle[c] != self.ours[c]]


def run(count: int, seed: int, out: Path, progress: Callable[[], None]) -> dict[str, Any]:
    """The whole oracle run; writes summary.json and cases.jsonl.gz."""
    from kubernetes import config as kube_config

    from harness.errors import TargetError
    from harness.infra import kubeapi
    from harness.infra.controlplane import LocalControlPlane
    from harness.model import inputs
    from harness.model.catalog import load_catalog
    from harness.model.config import load_config
    from harness.model.manifests import admission_review
    from harness.model.policies import policy_set
    from harness.targets.wasm import WasmTarget

    catalog = load_catalog()
    queries = {c: catalog.get(c).entrypoint_at("admission") for c in CONTROLS}
    roles = generate(count, seed)
    cluster = LocalControlPlane()
    cluster.start()
    try:
        cluster.start_controllers(["clusterrole-aggregation"])
        api = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))
        base = f"/apis/{RBAC}/v1"
        # Bindings first: by the time the aggregation controller has settled (seconds),
        # the authorizer's informers hold every binding and role.
        for role in roles:
            name = role["metadata"]["name"]
            binding = {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
                "subjects": [{"apiGroup": RBAC, "kind": "User", "name": name}],
            }
            kubeapi.request(api, "POST", f"{base}/clusterrolebindings", binding)
        for role in roles:
            kubeapi.request(api, "POST", f"{base}/clusterroles", role)
        held = _settled(lambda: json.loads(kubeapi.request(api, "GET", f"{base}/clusterroles")))

        def allowed(user: str, request: dict[str, Any]) -> bool:
            if "path" in request:
                attributes: dict[str, Any] = {"nonResourceAttributes": request}
            else:
                attributes = {"resourceAttributes": {**request, "namespace": NAMESPACE}}
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {"user": user, **attributes},
            }
            answer = json.loads(
                kubeapi.request(
                    api, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review
                )
            )
            return bool(answer.get("status", {}).get("allowed"))

        state = {"clusterroles": {n: body for n, body in held.items()}}
        engine = WasmTarget()
        engine.start(policy_set(queries.values(), state))
        outcomes = []
        try:
            for role in roles:
                name = role["metadata"]["name"]
                rules = held[name].get("rules") or []
                oracle = {
                    c: any(allowed(name, p) for p in requests)
                    for c, requests in probes(rules).items()
                }
                review = admission_review(role)
                ours = {
                    c: not engine.decide(engine.prepare(review, q)).allowed
                    for c, q in queries.items()
                }
                outcomes.append(Outcome(role, rules, oracle, ours))
                progress()
        finally:
            engine.close()
    except kubeapi.ApiError as exc:
        raise TargetError(f"RBAC oracle: kube-apiserver answered {exc.status}: {exc}") from None
    finally:
        cluster.stop()
    return write(out, seed, outcomes, inputs.digest(load_config()))


def _settled(list_roles: Callable[[], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ClusterRoles once the aggregation controller is done: two reads a second
    apart agree, and every aggregated role that has sources with rules holds some
    (the controller works through its queue at its own pace), within a bound."""
    from harness.checks.rbacdefaults import cluster_roles
    from harness.errors import TargetError

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    previous = None
    while time.monotonic() < deadline:
        current = {r["metadata"]["name"]: r for r in list_roles()["items"]}
        rules = {n: r.get("rules") for n, r in current.items()}
        expected = cluster_roles(list(current.values()))
        waiting = [n for n, r in expected.items() if r["rules"] and not rules.get(n)]
        if rules == previous and not waiting:
            return current
        previous = rules
        time.sleep(1)
    raise TargetError(
        f"the ClusterRole aggregation controller did not settle within {SETTLE_TIMEOUT_S} s"
    )


def write(
    out: Path, seed: int, outcomes: list[Outcome], fingerprint: dict[str, str]
) -> dict[str, Any]:
    cases = ({"role": o.role, "held": o.held, "oracle": o.oracle, "ours": o.ours} for o in outcomes)
    summary = {
        "oracle": "kube-apiserver v1.37.2 RBAC authorizer (SubjectAccessReview) with "
        "kube-controller-manager's ClusterRole aggregation controller",
        "seed": seed,
        "roles": len(outcomes),
        "aggregated": sum("aggregationRule" in o.role for o in outcomes),
        "denied_by_oracle": {c: sum(o.oracle[c] for o in outcomes) for c in CONTROLS},
        "disagreements": [
            {
                "role": o.role["metadata"]["name"],
                "control": c,
                **verdicts(o.oracle[c], o.ours[c]),
            }
            for o in outcomes
            for c in o.disagreements
        ],
        "inputs": fingerprint,
    }
    return write_run(out, cases, summary)
