"""Every fixture decides as its folder says, is a schema-valid Kubernetes object, and
the deny messages name the resource, the container and the field."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from harness.errors import HarnessError
from harness.model.catalog import load_catalog
from harness.model.fixtures import load_fixtures, load_folder, merged_state
from harness.model.manifests import REVIEWED, is_custom_resource

_catalog = load_catalog()
_fixtures = load_fixtures(_catalog.with_policy)
CASES = [(c.id, f) for c in _catalog.with_policy for f in _fixtures.by_control[c.id]]
K8S_VERSION = kubernetes_validate.latest_version()


@pytest.mark.parametrize(("control_id", "fixture"), CASES, ids=[f"{c}:{f.id}" for c, f in CASES])
def test_fixture_verdict(embedded, control_id, fixture):
    control = _catalog.get(control_id)
    decision = embedded.decide(embedded.prepare(fixture.input, fixture.entrypoint(control)))
    assert decision.verdict == fixture.expect, decision.messages
    prefix = f"[{control_id}] " + message_subject(fixture)
    for message in decision.messages:
        assert message.startswith(prefix)


def message_subject(fixture) -> str:
    """How deny messages name what they decided on: a resource, the cluster, or nothing
    for node trees (their messages name the component and file)."""
    kind = fixture.subject.kind
    if fixture.is_node_tree:
        return ""
    if kind == "ClusterState":
        return "cluster: "
    if kind in REVIEWED and not REVIEWED[kind].namespaced:
        return f"{kind} {fixture.subject.name}"
    return f"{kind} {fixture.namespace}/"


UNIQUE = _fixtures.unique
MANIFESTS = [f for f in UNIQUE if not f.is_node_tree]


@pytest.mark.parametrize("fixture", MANIFESTS, ids=[f.id for f in MANIFESTS])
def test_fixture_is_schema_valid(fixture):
    """Built-in kinds against the Kubernetes schema; custom resources (Istio's
    PeerAuthentication) have no schema in the package and are checked by the API server
    once their CRD is installed."""
    for doc in (fixture.subject, *fixture.state):
        if is_custom_resource(doc.body):
            continue
        kubernetes_validate.validate(doc.body, K8S_VERSION, strict=True)


def test_container_messages_name_container_and_path(embedded):
    fixture = next(
        f for f in _fixtures.by_control["NSA-1.1"] if f.path.stem == "init-container-root"
    )
    decision = embedded.decide(embedded.prepare(fixture.input, "controls/nsa_1_1/deny"))
    assert decision.messages == (
        "[NSA-1.1] Pod team-a/init-container-root: container init (spec.initContainers[0]): "
        "securityContext.runAsNonRoot must be true (on the container or the pod)",
    )


def test_template_messages_use_the_template_path(embedded):
    fixture = next(
        f for f in _fixtures.by_control["CIS-5.2.13"] if f.path.stem == "deployment-second-port"
    )
    (message,) = embedded.decide(
        embedded.prepare(fixture.input, "controls/cis_5_2_13/deny")
    ).messages
    assert "Deployment team-a/deployment-second-port" in message
    assert (
        "(spec.template.spec.containers[0]): ports[1].hostPort must not be set (is 9090)" in message
    )


def test_combined_query_is_the_union_of_all_controls(embedded, catalog):
    fixture = next(f for f in _fixtures.unique if f.path.stem == "baseline-only-pod")
    combined = set(embedded.decide(embedded.prepare(fixture.input, "admission/deny")).messages)
    union = {
        m
        for c in catalog.with_policy
        if c.enforcement == "admission"
        for m in embedded.decide(embedded.prepare(fixture.input, c.entrypoint)).messages
    }
    assert combined == union


def test_ephemeral_fixtures_are_updates_of_the_subresource():
    for fixture in UNIQUE:
        if "ephemeral" in fixture.covers:
            assert fixture.operation == "UPDATE"
            assert fixture.input["request"]["subResource"] == "ephemeralcontainers"
            assert "ephemeralContainers" not in fixture.input["request"]["oldObject"]["spec"]


def test_rego_builds_messages_without_sprintf():
    """rego-cpp quotes sprintf %s arguments returned by builtins; policies use concat."""
    from harness.model.policies import load_modules

    offenders = [m.name for m in load_modules() if re.search(r"\bsprintf\(", m.source)]
    assert offenders == []


def test_unlisted_fixture_file_is_an_error(tmp_path):
    folder = tmp_path / "demo"
    (folder / "deny").mkdir(parents=True)
    (folder / "deny" / "a.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n"
    )
    (folder / "deny" / "b.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: []}\n"
    )
    (folder / "suite.yaml").write_text("cases:\n- file: deny/a.yaml\n  reason: x\n")
    with pytest.raises(HarnessError, match=r"b\.yaml is not listed"):
        load_folder("demo", tmp_path)


def test_two_fixtures_may_not_share_a_stateful_namespace(tmp_path):
    folder = tmp_path / "demo"
    (folder / "allow").mkdir(parents=True)
    doc = (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shared}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shared}\nspec: {containers: []}\n"
    )
    (folder / "allow" / "a.yaml").write_text(doc)
    (folder / "allow" / "b.yaml").write_text(doc)
    (folder / "suite.yaml").write_text("cases:\n- file: allow/a.yaml\n- file: allow/b.yaml\n")
    with pytest.raises(HarnessError, match="namespace shared already gets its state"):
        merged_state(load_folder("demo", tmp_path))


def test_init_and_template_tags_match_the_fixture_content():
    """A suite's coverage tags are claims about the fixture; the structural ones are
    checked here as `ephemeral` is above (absent, explicit and override are readings of
    one field and stay with the suite's note)."""
    from harness.model.manifests import POD_BEARING, pod_spec

    wrong = []
    for fixture in UNIQUE:
        body = fixture.subject.body
        if "init" in fixture.covers and not pod_spec(body).get("initContainers"):
            wrong.append(f"{fixture.id}: tagged init, but the pod has no init container")
        if "template" in fixture.covers and (
            body.get("kind") == "Pod" or body.get("kind") not in POD_BEARING
        ):
            wrong.append(
                f"{fixture.id}: tagged template, but {body.get('kind')} has no pod template"
            )
    assert not wrong, "\n".join(wrong)


def test_a_deny_case_names_its_reason(tmp_path):
    folder = tmp_path / "demo"
    (folder / "deny").mkdir(parents=True)
    (folder / "deny" / "a.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n"
    )
    (folder / "suite.yaml").write_text("cases:\n- file: deny/a.yaml\n")
    with pytest.raises(HarnessError, match=r"a deny case needs a reason"):
        load_folder("demo", tmp_path)


def test_a_denial_counts_only_with_exactly_the_violations_its_suite_names():
    """privileged-container names its reason and, in `also`, allowPrivilegeEscalation
    (privileged implies it); a third message, or a missing one, is a wrong decision."""
    fixture = next(f for f in UNIQUE if f.id == "NSA-1.4/deny/privileged-container")
    privileged = "[NSA-1.4] Pod x: securityContext.privileged must not be true"
    escalation = "[NSA-1.4] Pod x: securityContext.allowPrivilegeEscalation must be false"
    extra = "[NSA-1.4] Pod x: spec.hostNetwork must not be true"
    assert fixture.decided_right(False, [privileged, escalation])
    assert not fixture.decided_right(False, [escalation])
    assert not fixture.decided_right(False, [privileged])
    assert not fixture.decided_right(False, [privileged, escalation, extra])
    assert not fixture.decided_right(True, [])


def test_also_is_a_list_of_texts_on_deny_cases_only(tmp_path):
    folder = tmp_path / "demo"
    for expect in ("allow", "deny"):
        (folder / expect).mkdir(parents=True)
        (folder / expect / "a.yaml").write_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n"
        )
    suite = folder / "suite.yaml"
    suite.write_text(
        "cases:\n- file: allow/a.yaml\n  also: [x]\n- file: deny/a.yaml\n  reason: y\n"
    )
    with pytest.raises(HarnessError, match=r"allow/a.yaml: an allow case has no other violations"):
        load_folder("demo", tmp_path)
    suite.write_text("cases:\n- file: allow/a.yaml\n- file: deny/a.yaml\n  reason: y\n  also: z\n")
    with pytest.raises(HarnessError, match=r"deny/a.yaml: also is a list of message texts"):
        load_folder("demo", tmp_path)


def test_a_case_user_is_the_requests_username(tmp_path):
    folder = tmp_path / "demo"
    (folder / "allow").mkdir(parents=True)
    (folder / "allow" / "a.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n"
    )
    suite = folder / "suite.yaml"
    suite.write_text("cases:\n- file: allow/a.yaml\n  user: system:serviceaccount:ns:sa\n")
    (fixture,) = load_folder("demo", tmp_path)
    assert fixture.input["request"]["userInfo"]["username"] == "system:serviceaccount:ns:sa"
    suite.write_text("cases:\n- file: allow/a.yaml\n  user: [a]\n")
    with pytest.raises(HarnessError, match=r"allow/a.yaml: user is a username"):
        load_folder("demo", tmp_path)
    (folder / "allow" / "a.yaml").write_text(
        "apiVersion: pac-harness/v1\nkind: NodeTree\nmetadata: {name: a}\n"
    )
    suite.write_text("cases:\n- file: allow/a.yaml\n  user: someone\n")
    with pytest.raises(HarnessError, match=r"only an admission request has a user"):
        load_folder("demo", tmp_path)


def test_every_deny_fixture_is_denied_for_its_reason(catalog, fixture_set, embedded):
    wrong = []
    for control in catalog.with_policy:
        for fixture in fixture_set.by_control[control.id]:
            decision = embedded.decide(embedded.prepare(fixture.input, fixture.entrypoint(control)))
            if not fixture.decided_right(decision.allowed, decision.messages):
                wrong.append(f"{control.id} {fixture.id}: {decision.messages}")
    assert not wrong, "\n".join(wrong)
