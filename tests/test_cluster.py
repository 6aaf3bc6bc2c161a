"""The kind and existing-cluster targets, as far as a machine without a container engine
can take them: every object they apply goes to a real kube-apiserver (server-side
dry-run), the context guard and --dry-run run against it, teardown after a failed
install leaves nothing, and the kind/kubectl subprocess layer fails with one clear line.
"""

from __future__ import annotations

import json
import shutil
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.errors import TargetError
from harness.infra import kind
from harness.infra.kubeapi import ApiError
from harness.model.manifests import STATE, admission_review
from harness.targets import TargetOptions, incluster, make_target
from harness.targets.cluster import ClusterTarget, connect
from harness.targets.kube import (
    HARNESS_NAMESPACE,
    KubeTarget,
    api_path,
    excluded_namespaces,
    replay_selector,
    webhook_configuration,
)
from tests.conftest import require_tool

CONTEXT = "pac-harness-local"


@pytest.fixture(scope="module")
def controlplane():
    for tool in ("etcd", "kube-apiserver"):
        require_tool(tool)
    from harness.infra.controlplane import LocalControlPlane

    cluster = LocalControlPlane()
    cluster.start()
    yield cluster
    cluster.stop()


def _api(kubeconfig: Path) -> KubeTarget:
    """A cluster target connected but not started: its API calls, for tests."""
    target = ClusterTarget(kubeconfig, CONTEXT)
    target.objects.api = connect(kubeconfig, CONTEXT)
    return target


@pytest.fixture(scope="module")
def api(controlplane):
    client = _api(controlplane.kubeconfig)
    yield client
    client.objects.close()


def test_every_incluster_object_passes_the_real_api_server(api, policy_set):
    """Namespace for real (namespaced dry-runs need it), everything else with dryRun=All,
    both webhook variants (kind: all but system namespaces; cluster: labelled only)."""
    creds = incluster.generate_credentials()
    objects = incluster.manifests(incluster.bundle_tarball(policy_set), creds, list(STATE.values()))
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Secret",
        "ConfigMap",
        "Deployment",
        "Service",
    ]
    # In a namespace of its own, so the install test below starts from a clean cluster
    # (no controller-manager here would ever finish deleting this one).
    for body in objects:
        if body["kind"] == "Namespace":
            body["metadata"]["name"] = "pac-harness-manifests"
        elif "namespace" in body["metadata"]:
            body["metadata"]["namespace"] = "pac-harness-manifests"
    api.objects.create(objects[0])
    hooks = [
        webhook_configuration(incluster.webhook_client_config(), creds.ca_pem, *selectors)
        for selectors in (
            (replay_selector(), replay_selector()),  # cluster
            (excluded_namespaces(["kube-system"]), None),  # kind
        )
    ]
    rejected = []
    for body in [*objects[1:], *hooks]:
        try:
            api.objects.call(
                "POST", api_path(body), body, [("dryRun", "All"), ("fieldValidation", "Strict")]
            )
        except Exception as exc:
            rejected.append(f"{body['kind']} {body['metadata']['name']}: {exc}")
    assert rejected == []


def test_a_refused_read_of_replicated_state_means_not_yet(api, monkeypatch):
    """The wait for OPA to hold the cluster state retries a refused read (a kind run once
    died on one) and names the last refusal if the state never arrives."""
    answers = [ApiError(403, "resolve_deny: denied destination"), None, {"replicated": True}]

    def get_data(path):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(api, "get_data", get_data)
    labelled = {
        "kind": "Namespace",
        "metadata": {"name": "pac-harness-replication", "labels": {"team": "a"}},
    }
    api._create_state({"namespaces": {"pac-harness-replication": labelled}})
    assert answers == []

    monkeypatch.setattr(api, "get_data", lambda path: get_data(path) if answers else None)
    monkeypatch.setattr("harness.targets.kube.REPLICATION_TIMEOUT_S", 0.2)
    answers.append(ApiError(403, "resolve_deny: denied destination"))
    labelled = {
        "kind": "Namespace",
        "metadata": {"name": "pac-harness-replication-2", "labels": {"team": "a"}},
    }
    with pytest.raises(TargetError, match=r"within 0.2 s \(last read: HTTP 403, resolve_deny"):
        api._create_state({"namespaces": {"pac-harness-replication-2": labelled}})


def test_kube_mgmt_may_read_exactly_the_replicated_kinds():
    objects = incluster.manifests(b"x", incluster.generate_credentials(), list(STATE.values()))
    role = next(o for o in objects if o["kind"] == "ClusterRole")
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {info.resource for info in STATE.values()}
    mgmt = objects[6]["spec"]["template"]["spec"]["containers"][1]
    assert "--replicate=networking.k8s.io/v1/networkpolicies" in mgmt["args"]
    assert "--replicate-cluster=v1/namespaces" in mgmt["args"]


def test_our_own_deployment_passes_our_pod_policies(catalog, embedded):
    """The harness's OPA pod is held to the hardening it measures."""
    deployment = incluster.manifests(b"x", incluster.generate_credentials(), [])[6]
    review = admission_review(deployment)
    denials = {}
    for control in catalog.with_policy:
        if control.enforcement != "admission" or control.id.startswith("CIS-5.1"):
            continue
        decision = embedded.decide(embedded.prepare(review, control.entrypoint))
        if not decision.allowed:
            denials[control.id] = decision.messages
    # Left: cluster-state findings (our namespace has no NetworkPolicy, so no default deny
    # and no egress isolation from cloud metadata endpoints, no quota, no mesh),
    # NSA-4.1.3, whose Localhost audit seccomp profile must exist on every node, which no
    # generic cluster promises, and NSA-1.5: kube-mgmt needs an API token, which it gets
    # from a projected volume (automount stays off for OPA).
    assert set(denials) <= {
        "NSA-1.5",
        "NSA-2.2",
        "NSA-2.3",
        "NSA-2.6",
        "NSA-2.8",
        "CIS-5.3.2",
        "CIS-5.7.1",
        "NSA-4.1.3",
    }, denials


def test_dry_run_prints_what_a_cluster_run_would_create(controlplane, capsys):
    code = main(
        [
            "run",
            "--target",
            "cluster",
            "--kubeconfig",
            str(controlplane.kubeconfig),
            "--context",
            CONTEXT,
            "--dry-run",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    objects = list(yaml.safe_load_all(text))
    kinds = [o["kind"] for o in objects]
    assert kinds[-1] == "ValidatingWebhookConfiguration"
    assert "Deployment" in kinds and "ClusterRole" in kinds
    hook = objects[-1]["webhooks"][0]
    assert hook["namespaceSelector"] == replay_selector()
    # Cluster-scoped RBAC objects escape a namespace selector; the object selector holds.
    assert hook["objectSelector"] == replay_selector()
    assert hook["clientConfig"]["service"]["name"] == incluster.SERVICE
    assert "PRIVATE KEY" not in text and "<generated at run time>" in text


def test_context_must_be_named_and_exist(controlplane, capsys):
    base = ["run", "--target", "cluster", "--kubeconfig", str(controlplane.kubeconfig)]
    assert main([*base, "--dry-run"]) == 2
    assert "needs --context" in capsys.readouterr().err
    assert main([*base, "--context", "prod", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no context named 'prod'" in err and CONTEXT in err


def test_a_failed_install_leaves_nothing_behind(controlplane, policy_set, monkeypatch):
    """No kubelet runs OPA here, so the install times out: teardown must still remove the
    ClusterRole, binding and namespace it created."""
    from harness.targets import cluster as cluster_module

    monkeypatch.setattr(cluster_module, "READY_TIMEOUT_S", 1)
    monkeypatch.setattr(cluster_module, "NAMESPACE_GONE_TIMEOUT_S", 1)
    target = ClusterTarget(controlplane.kubeconfig, CONTEXT)
    with pytest.raises(TargetError, match="OPA did not become available"):
        target.start(policy_set)
    check = _api(controlplane.kubeconfig)
    role = "/apis/rbac.authorization.k8s.io/v1/clusterroles/pac-harness-opa-replicate"
    with pytest.raises(Exception, match="not found"):
        check.objects.call("GET", role)
    ns = json.loads(check.objects.call("GET", f"/api/v1/namespaces/{HARNESS_NAMESPACE}"))
    # No controller-manager here to finish the deletion; a real cluster removes it.
    assert ns["metadata"].get("deletionTimestamp")
    check.objects.close()


def test_a_cluster_run_probes_network_policy_first_and_records_why_it_could_not(
    controlplane, capsys
):
    """run --target cluster runs CIS-5.3.1's probe (the one audit runs, tested live in
    test_kind) before its webhook exists; with no node here it says so at once."""
    target = ClusterTarget(controlplane.kubeconfig, CONTEXT, probe_image="example/nc:1")
    site = target.site
    target.objects.api = site.connect()
    site._probe_network_policy()
    assert site.network_probe is None
    err = capsys.readouterr().err
    assert "note: no network-policy probe (no Ready, schedulable node" in err
    assert "run.json records none" in err
    assert target.describe()["network_policy_probe"] is None
    target.objects.close()


def test_cluster_options_are_checked_against_the_target():
    with pytest.raises(Exception, match="--keep applies to --target kind"):
        make_target("cluster", TargetOptions(keep=True))
    with pytest.raises(Exception, match="--kubeconfig applies to --target cluster"):
        make_target("local", TargetOptions(kubeconfig=Path("k")))
    with pytest.raises(Exception, match="--probe-image applies to --target cluster"):
        make_target("kind", TargetOptions(probe_image="example/nc:1"))


# ---------------------------------------------------------------- kind, subprocess layer


def _script(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A PATH with only the tools a test puts there (plus sh)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.setattr(kind, "kind_binary", lambda: None)
    monkeypatch.setattr(kind, "kubectl_binary", lambda: shutil.which("kubectl"))
    return directory


def test_kind_without_anything_names_every_missing_piece(fake_bin):
    with pytest.raises(TargetError) as info:
        kind.check_prerequisites()
    message = str(info.value)
    assert "\n" not in message
    assert "kind not found" in message
    assert "kubectl not found (python -m harness tools install kubectl)" in message
    assert "docker not found on PATH" in message


def test_kind_with_a_stopped_engine_says_so(fake_bin, monkeypatch):
    _script(fake_bin, "kubectl", "exit 0")
    _script(fake_bin, "docker", "echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    monkeypatch.setattr(kind, "kind_binary", lambda: str(fake_bin / "kind"))
    with pytest.raises(TargetError, match=r"docker engine does not answer.*Cannot connect"):
        kind.check_prerequisites()


def test_kind_honours_its_provider_variable(fake_bin, monkeypatch):
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "podman")
    with pytest.raises(TargetError, match="podman not found on PATH"):
        kind.check_prerequisites()


def test_kind_failure_is_one_line_with_kinds_last_words(fake_bin):
    _script(
        fake_bin,
        "kind",
        'case "$1" in get) exit 0;; create) echo "ERROR: failed to create cluster: node image not found" >&2; exit 1;; esac',
    )
    cluster = kind.KindCluster(str(fake_bin / "kind"), "node:test", "kube-router")
    with pytest.raises(TargetError) as info:
        cluster.create()
    assert str(info.value) == (
        "kind create cluster failed (exit 1): ERROR: failed to create cluster: node image not found"
    )
    cluster.cleanup()


def test_a_leftover_kind_cluster_is_refused_unless_asked(fake_bin, tmp_path):
    log = tmp_path / "calls"
    _script(
        fake_bin,
        "kind",
        f'echo "$@" >> {log}; case "$1 $2" in "get clusters") echo pac-harness;; '
        '"get kubeconfig") echo "apiVersion: v1";; esac; exit 0',
    )
    cluster = kind.KindCluster(str(fake_bin / "kind"), "node:test", "kube-router")
    with pytest.raises(TargetError, match=r"exists.*--existing-cluster reuse or recreate"):
        cluster.create()
    cluster.create("reuse")
    assert not cluster.created and cluster.kubeconfig.read_text().startswith("apiVersion")
    assert "create" not in log.read_text()
    cluster.create("recreate")
    assert "delete cluster --name pac-harness" in log.read_text()
    cluster.cleanup()


@pytest.mark.parametrize("cni", ["calico", "kube-router"])
def test_kind_cluster_config_is_the_thesis_environment_from_our_images(cni):
    from harness.infra import kindimages

    config = yaml.safe_load(kind.cluster_config(cni))
    assert config["networking"] == {"disableDefaultCNI": True, "podSubnet": kind.POD_SUBNETS[cni]}
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker"]
    patches = [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]]
    cluster = next(p for p in patches if p["kind"] == "ClusterConfiguration")
    assert cluster["imageRepository"] == kindimages.REPOSITORY
    assert cluster["etcd"]["local"]["imageTag"] == kindimages.component("etcd").tag
    assert {"kind": "KubeletConfiguration", "failCgroupV1": False} in patches


def test_the_node_preloads_every_image_kubeadm_asks_for():
    """kubeadm's own list for our configuration, against what the node image holds."""
    from harness.infra import kindimages

    kubeadm = require_tool("kubeadm")
    listed = subprocess.run(
        [str(kubeadm), "config", "images", "list", f"--kubernetes-version=v{kindimages.K8S}",
         f"--image-repository={kindimages.REPOSITORY}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    etcd = next(i for i in listed if "/etcd:" in i)
    wanted = {i for i in listed if i != etcd} | {kindimages.component("etcd").ref}
    assert wanted <= set(kindimages.preloaded())


def test_without_a_registry_the_cni_is_kube_router_and_the_reason_is_recorded(monkeypatch):
    def refused(*args, **kwargs):
        raise urllib.error.URLError("Connection refused")

    monkeypatch.setattr(kind.urllib.request, "urlopen", refused)
    cni, reason = kind.choose_cni("auto", None)
    assert cni == "kube-router"
    assert "no image registry answers" in reason and "Connection refused" in reason
    assert kind.choose_cni("calico", None) == ("calico", "requested with --cni calico")


def test_calico_is_never_applied_unverified(monkeypatch, tmp_path):
    monkeypatch.delenv("PAC_HARNESS_CALICO_SHA256", raising=False)
    monkeypatch.setattr(kind, "CALICO_SHA256", None)
    with pytest.raises(TargetError, match=r"no sha256 is pinned.*--calico-manifest"):
        kind.calico_manifest_file()


def test_objects_carry_the_replay_label_where_the_object_selector_asks_for_it():
    from harness.targets.cluster import KindTarget
    from harness.targets.kube import REPLAY_LABEL

    body = {"kind": "ClusterRole", "metadata": {"name": "x", "labels": {"a": "b"}}}
    labelled = ClusterTarget(Path("kubeconfig"), CONTEXT).labelled(body)
    assert labelled["metadata"]["labels"] == {"a": "b", REPLAY_LABEL: "true"}
    assert body["metadata"]["labels"] == {"a": "b"}  # the fixture is not changed
    assert KindTarget().labelled(body) is body  # kind owns its cluster: no selector


def test_the_in_cluster_replicator_mirrors_what_kube_mgmt_would(api, controlplane, tmp_path):
    """The Go replicator the kind node image carries, run against the real API server
    with the service account and RBAC the in-cluster install gives it: it lists, then
    follows watch events into OPA, in kube-mgmt's layout, and nothing more is allowed."""
    from harness.infra import kindimages, processes

    opa = require_tool("opa")
    binary = kindimages.replicator_binary(tmp_path)
    kinds = [STATE["NetworkPolicy"], STATE["Namespace"]]
    objects = incluster.manifests(b"x", incluster.generate_credentials(), kinds)
    # Its own namespace: earlier tests leave pac-harness terminating (no controller-manager).
    home = "replicator-test"
    account, role, binding = objects[1:4]
    account["metadata"]["namespace"] = home
    binding["subjects"][0]["namespace"] = home
    for body in ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": home}},
                 account, role, binding):  # fmt: skip
        api.objects.create(body, track=True)
    token = json.loads(
        api.objects.call(
            "POST",
            f"/api/v1/namespaces/{home}/serviceaccounts/{incluster.NAME}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )
    )["status"]["token"]
    (tmp_path / "token").write_text(token)
    config = yaml.safe_load(controlplane.kubeconfig.read_text())["clusters"][0]["cluster"]
    port = processes.free_port()
    server = [str(opa), "run", "--server", "--log-level=error", f"--addr=127.0.0.1:{port}"]
    procs = [subprocess.Popen(server)]
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(binary),
                    f"--opa-url=http://127.0.0.1:{port}/v1",
                    f"--api-url={config['server']}",
                    f"--api-ca-file={config['certificate-authority']}",
                    f"--api-token-file={tmp_path / 'token'}",
                    *incluster.replicate_flags(kinds),
                ]
            )
        )
        policy = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": home},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }

        def data(path: str):
            url = f"http://127.0.0.1:{port}/v1/data/kubernetes/{path}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return json.loads(response.read()).get("result")
            except OSError:
                return None

        def eventually(check) -> None:
            deadline = time.monotonic() + 30
            while not check():
                assert time.monotonic() < deadline, "the replicator did not catch up"
                time.sleep(0.2)

        eventually(
            lambda: (data(f"namespaces/{home}") or {}).get("metadata", {}).get("name") == home
        )
        api.objects.create(policy, track=True)
        path = f"networkpolicies/{home}/deny"
        eventually(lambda: (data(path) or {}).get("spec") == policy["spec"])
        assert "managedFields" not in data(path)["metadata"]
        api.objects.call("DELETE", api_path(policy))
        eventually(lambda: data(path) is None)
        # Least privilege: the same token may not read what it does not replicate.
        request = urllib.request.Request(
            f"{config['server']}/api/v1/secrets", headers={"Authorization": f"Bearer {token}"}
        )
        context = ssl.create_default_context(cafile=config["certificate-authority"])
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(request, context=context, timeout=10)
    finally:
        for proc in procs:
            processes.stop(proc)
        api.objects.remove_created()


def test_a_missing_node_image_is_one_line_naming_the_command(monkeypatch):
    from harness.infra import kindimages

    monkeypatch.setattr(kindimages, "exists", lambda ref: False)
    with pytest.raises(TargetError) as info:
        kindimages.require_node_image()
    assert "\n" not in str(info.value)
    assert "python -m harness tools install kind-images" in str(info.value)


def test_image_tags_follow_their_recipe(monkeypatch):
    """A changed recipe (here kind's base Dockerfile) builds new images, never reuses a
    stale one under the same tag; an unchanged recipe keeps its tags."""
    from harness.infra import kindimages

    base, node = kindimages.base_ref(), kindimages.node_ref()
    assert (base, node) == (kindimages.base_ref(), kindimages.node_ref())
    monkeypatch.setattr(kindimages, "BASE_DOCKERFILE", kindimages.BASE_DOCKERFILE + "# x\n")
    assert kindimages.base_ref() != base and kindimages.node_ref() != node
