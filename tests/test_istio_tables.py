"""NSA-2.6 against tables derived from Istio's own tests.

Istio's own code is the oracle of `harness istio-oracle` (tests/test_istio_oracle.py);
these rows are its test cases, kept as a second check that needs no Go build, row by
row, each naming the test it comes from (istio.io/istio
v0.0.0-20260827124520-eed52ebb66ad, the version the Go module proxy serves). Only rows that hold for the default installation the policy models are taken:
the injector's policy enabled, no neverInjectSelector or alwaysInjectSelector, the
default revision's webhooks.
"""

from __future__ import annotations

import pytest

from harness.model.manifests import admission_review, cluster_state
from harness.model.policies import PolicySet, load_modules
from harness.targets.wasm import WasmTarget

QUERY = "controls/nsa_2_6/deny"
SOURCE = "pkg/kube/inject/webhook_test.go TestInjectRequired"
COMPOSE_SOURCE = "pilot/pkg/security/authn/policy_applier_test.go TestComposePeerAuthentication"
NOW, SECOND_AGO = "2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z"

# (case name in Istio's test, pod labels, pod annotations, hostNetwork, sidecar injected)
INJECT_REQUIRED = [
    ("no-policy", {}, {}, False, True),
    ("default-policy", None, None, False, True),
    ("force-on-policy", None, {"sidecar.istio.io/inject": "true"}, False, True),
    ("force-off-policy", None, {"sidecar.istio.io/inject": "false"}, False, False),
    ("invalid-inject-value-yes", None, {"sidecar.istio.io/inject": "yes"}, False, True),
    ("invalid-inject-value-random", {"sidecar.istio.io/inject": "random"}, None, False, True),
    ("force-off-policy (host network)", None, {}, True, False),
    (
        "policy-disabled-label-enabled-annotation-disabled",
        {"sidecar.istio.io/inject": "true"},
        {"sidecar.istio.io/inject": "false"},
        False,
        True,
    ),
    (
        "policy-disabled-label-disabled-annotation-enabled",
        {"sidecar.istio.io/inject": "false"},
        {"sidecar.istio.io/inject": "true"},
        False,
        False,
    ),
]


@pytest.fixture(scope="module")
def nsa_2_6():
    from harness.model.config import load_config

    state = cluster_state(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "test-namespace", "labels": {"istio-injection": "enabled"}},
            },
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "test-namespace"},
                "spec": {"mtls": {"mode": "STRICT"}},
            },
        ]
    )
    target = WasmTarget()
    target.start(PolicySet(load_modules(), load_config(), state, [QUERY]))
    yield lambda pod: target.decide(target.prepare(admission_review(pod), QUERY))
    target.close()


@pytest.mark.parametrize(
    ("case", "labels", "annotations", "host_network", "injected"), INJECT_REQUIRED
)
def test_injection_follows_istios_inject_required(
    nsa_2_6, case, labels, annotations, host_network, injected
):
    """In a namespace labelled istio-injection=enabled with STRICT mTLS, NSA-2.6 admits
    exactly the pods Istio injects (its webhook's objectSelector, NotIn [false], lets
    every one of these through to injectRequired)."""
    meta = {"name": "p", "namespace": "test-namespace"}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    spec = {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
    if host_network:
        spec["hostNetwork"] = True
    decision = nsa_2_6({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    assert decision.allowed == injected, (SOURCE, case, decision.messages)
    if not injected:
        assert all("the pod gets no Istio sidecar" in m for m in decision.messages)


def pa(name, namespace, mode=None, selector=None, created=None, ports=None):
    """A PeerAuthentication as one of Istio's test configs writes it."""
    spec = {}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if ports is not None:
        spec["portLevelMtls"] = {str(p): ({"mode": m} if m else {}) for p, m in ports.items()}
    meta = {"name": name, "namespace": namespace}
    if created:
        meta["creationTimestamp"] = created
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": meta,
            "spec": spec}  # fmt: skip


ROOT, NS, FOO = "root-namespace", "my-ns", {"app": "foo"}
# (case name in Istio's test, the configs it composes, the mode, per-port modes)
COMPOSE = [
    ("no config", [], "PERMISSIVE", {}),
    ("mesh only", [pa("default", ROOT, "STRICT")], "STRICT", {}),
    ("mesh vs namespace", [pa("default", ROOT, "STRICT", {}), pa("default", NS, "PERMISSIVE")],
     "PERMISSIVE", {}),
    ("ignore non-empty selector in root namespace", [pa("default", ROOT, "STRICT", FOO)],
     "PERMISSIVE", {}),
    ("workload vs namespace config", [pa("default", NS), pa("foo", NS, selector=FOO)],
     "PERMISSIVE", {}),
    ("workload vs mesh config", [pa("default", NS, "PERMISSIVE"), pa("default", ROOT, "DISABLE")],
     "PERMISSIVE", {}),
    ("multiple mesh policy", [pa("now", ROOT, "DISABLE", created=NOW),
                              pa("second ago", ROOT, "PERMISSIVE", created=SECOND_AGO),
                              pa("second later", ROOT, "STRICT", created=SECOND_AGO)],
     "PERMISSIVE", {}),
    ("multiple namespace policy", [pa("now", NS, "DISABLE", created=NOW),
                                   pa("second ago", NS, "PERMISSIVE", created=SECOND_AGO),
                                   pa("second later", NS, "STRICT", created=SECOND_AGO)],
     "PERMISSIVE", {}),
    ("multiple workload policy", [pa("now", NS, "DISABLE", FOO, NOW),
                                  pa("second ago", NS, "PERMISSIVE", FOO, SECOND_AGO),
                                  pa("second later", NS, "STRICT", {"stage": "prod"}, SECOND_AGO)],
     "PERMISSIVE", {}),
    ("inheritance: default mesh", [pa("default", ROOT, "UNSET")], "PERMISSIVE", {}),
    ("inheritance: mesh to workload", [pa("default", ROOT, "STRICT"), pa("foo", NS, selector=FOO)],
     "STRICT", {}),
    ("inheritance: namespace to workload", [pa("default", NS, "STRICT"), pa("foo", NS, selector=FOO)],
     "STRICT", {}),
    ("inheritance: mesh to namespace to workload",
     [pa("default", ROOT, "STRICT"), pa("default", NS, "UNSET"), pa("foo", NS, selector=FOO)],
     "STRICT", {}),
    ("port level", [pa("default", ROOT, "STRICT"),
                    pa("foo", NS, selector=FOO, ports={80: "DISABLE", 90: "UNSET", 100: None})],
     "STRICT", {80: "DISABLE", 90: "STRICT", 100: "STRICT"}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "configs", "mode", "ports"), COMPOSE)
def test_peer_authentication_follows_istios_composition(case, configs, mode, ports):
    """A pod that gets a sidecar (its namespace is labelled istio-injection=enabled) and
    carries every workload selector's labels, so each case's configs all apply to it as
    in Istio's test: NSA-2.6 admits it exactly when the composed mode and every port's
    are STRICT, and names the mode and the ports that are not."""
    from harness.model.config import load_config

    labels = {
        k: v
        for c in configs
        for k, v in ((c["spec"].get("selector") or {}).get("matchLabels") or {}).items()
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": NS, "labels": {"istio-injection": "enabled"}}}  # fmt: skip
    config = {**load_config(), "istio": {"revisions": ["default"], "root_namespace": ROOT}}
    target = WasmTarget()
    target.start(PolicySet(load_modules(), config, cluster_state([namespace, *configs]), [QUERY]))
    try:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": NS, "labels": labels},
               "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}  # fmt: skip
        decision = target.decide(target.prepare(admission_review(pod), QUERY))
    finally:
        target.close()
    weak = {p: m for p, m in ports.items() if m != "STRICT"}
    assert decision.allowed == (mode == "STRICT" and not weak), (
        COMPOSE_SOURCE,
        case,
        decision.messages,
    )
    if mode != "STRICT":
        assert any(f"mtls mode for this pod is {mode} " in m for m in decision.messages), case
    for port, port_mode in weak.items():
        assert any(f"sets port {port} to {port_mode}" in m for m in decision.messages), case
