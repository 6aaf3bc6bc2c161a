"""Replay through a real cluster: one a user names by kubeconfig and context (never
created, never deleted, touched only in the harness's namespace and the namespaces it
labels), or a kind cluster the harness creates with Calico, as the thesis did.

OPA and kube-mgmt run in the cluster (harness.targets.incluster); the harness reaches OPA's data
API through kube-apiserver's service proxy. Teardown removes the webhook first, then
everything the run created, newest first, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import TargetError
from harness.infra.kubeapi import ApiError
from harness.model.manifests import KindInfo
from harness.model.policies import PolicySet
from harness.targets import incluster
from harness.targets.kube import (
    HARNESS_NAMESPACE,
    KubeTarget,
    excluded_namespaces,
    object_path,
    replay_selector,
    webhook_configuration,
)

if TYPE_CHECKING:
    from harness.infra.kind import KindCluster

READY_TIMEOUT_S = 300
NAMESPACE_GONE_TIMEOUT_S = 120


def connect(kubeconfig: Path | None, context: str | None) -> Any:
    """An API client for exactly the named context: the harness never falls back to a
    kubeconfig's current context, so a typo cannot point it at the wrong cluster."""
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    if not context:
        raise TargetError(
            "--target cluster needs --context NAME (the current context is never used)"
        )
    try:
        contexts, _ = kube_config.list_kube_config_contexts(
            config_file=str(kubeconfig) if kubeconfig else None
        )
    except (ConfigException, OSError) as exc:
        raise TargetError(f"{kubeconfig or '~/.kube/config'}: {exc}") from None
    names = [c["name"] for c in contexts]
    if context not in names:
        raise TargetError(
            f"{kubeconfig or '~/.kube/config'}: no context named {context!r} "
            f"(it has {', '.join(names) or 'none'})"
        )
    return kube_config.new_client_from_config(
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )


class ClusterTarget(KubeTarget):
    name = "cluster"
    owns_cluster = False

    def __init__(
        self,
        kubeconfig: Path | None = None,
        context: str | None = None,
        dry_run: bool = True,
        probe_image: str | None = None,
    ) -> None:
        super().__init__()
        self.kubeconfig = kubeconfig
        self.context = context
        self.dry_run = dry_run
        self.probe_image = probe_image
        self.network_probe: dict[str, Any] | None = None
        self.creds: incluster.Credentials  # set by provision() or planned_objects()
        self.kinds: list[KindInfo] = []
        self.images = incluster.OFFICIAL

    # ------------------------------------------------------------ provisioning

    def connect(self) -> None:
        if self.api is not None:
            return  # the kind target connects early, to install CRDs
        self.api = connect(self.kubeconfig, self.context)
        try:
            self.server_version()
        except Exception as exc:
            raise TargetError(f"context {self.context}: API server unreachable ({exc})") from None

    def planned_objects(self, policy: PolicySet) -> list[dict[str, Any]]:
        """What provision() would create, for --dry-run (connects, changes nothing)."""
        self.connect()
        self.creds = incluster.generate_credentials()
        objects = incluster.manifests(
            incluster.bundle_tarball(policy), self.creds, self.served_state_kinds(), self.images
        )
        hook = webhook_configuration(
            self.webhook_client_config(),
            self.webhook_ca(),
            self.namespace_selector(),
            self.object_selector(),
        )
        return incluster.redacted([*objects, hook])

    def provision(self, policy: PolicySet) -> None:
        self.connect()
        self._probe_network_policy()
        self.creds = incluster.generate_credentials()
        self.kinds = self.served_state_kinds()
        bundle = incluster.bundle_tarball(policy)
        for body in incluster.manifests(bundle, self.creds, self.kinds, self.images):
            if body["kind"] == "Namespace":
                self._ensure_namespace(body["metadata"]["name"], body["metadata"]["labels"])
                if HARNESS_NAMESPACE in self._foreign_namespaces:
                    raise TargetError(
                        f"namespace {HARNESS_NAMESPACE} exists and is not the harness's; "
                        "refusing to install into it"
                    )
            elif not self._create(body, track=True):
                raise TargetError(
                    f"{body['kind']} {body['metadata']['name']} already exists: "
                    "left by an earlier run? delete it or the pac-harness namespace"
                )
        self._wait_available()

    def _probe_network_policy(self) -> None:
        """CIS-5.3.1's evidence on this cluster, before the webhook exists (its policies
        would judge the probe's pods); recorded in run.json, as the kind target does. Only
        with a probe image."""
        if not self.probe_image:
            return
        from harness.infra import netprobe

        self.network_probe = netprobe.probe_cluster(
            self.kubeconfig, self.context, self.probe_image, None, "run.json records none"
        )

    def _wait_available(self) -> None:
        path = object_path(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": incluster.NAME,
             "namespace": HARNESS_NAMESPACE}}
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            status = json.loads(self._call("GET", path)).get("status", {})
            if status.get("availableReplicas", 0) >= 1:
                return
            time.sleep(2)
        raise TargetError(
            f"OPA did not become available in {READY_TIMEOUT_S} s "
            f"(kubectl -n {HARNESS_NAMESPACE} describe pods -l app={incluster.NAME})"
        )

    # ------------------------------------------------------------ hooks

    def webhook_client_config(self) -> dict[str, Any]:
        return incluster.webhook_client_config()

    def webhook_ca(self) -> bytes:
        return self.creds.ca_pem

    def namespace_selector(self) -> dict[str, Any]:
        return replay_selector()

    def object_selector(self) -> dict[str, Any] | None:
        # ClusterRoles and bindings have no namespace: without this the webhook would
        # judge every one the cluster's own operators create while the run lasts.
        return replay_selector()

    def put_data(self, path: str, value: Any) -> None:
        self._call("PUT", incluster.proxy_path(f"/v1/data/{path}"), value)

    def get_data(self, path: str) -> Any:
        return json.loads(self._call("GET", incluster.proxy_path(f"/v1/data/{path}"))).get("result")

    def describe(self) -> dict[str, Any]:
        return {
            "engine": f"opa in-cluster ({self.images.replicator_name} replication)",
            "engine_version": self.images.opa.rsplit(":", 1)[1].removesuffix("-static"),
            "images": {"opa": self.images.opa, "replicator": self.images.replicator},
            "kubernetes": self.server_version(),
            "context": self.context,
            "transport": "kube-apiserver "
            + ("dry-run" if self.dry_run else "create+delete")
            + " -> HTTPS webhook (Service)",
            "network_policy_probe": self.network_probe,
        }

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """Teardown must finish even if the user presses Ctrl-C again meanwhile."""
        with _sigint_ignored():
            super().close()

    def remove_created(self) -> None:
        namespaces = [b["metadata"]["name"] for b in self.created if b["kind"] == "Namespace"]
        super().remove_created()
        deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT_S
        for name in namespaces:
            while time.monotonic() < deadline:
                try:
                    self._call("GET", f"/api/v1/namespaces/{name}")
                except ApiError:
                    break  # gone
                time.sleep(1)


class KindTarget(ClusterTarget):
    """A throw-away kind cluster from the node image built here, with a NetworkPolicy-
    enforcing CNI, standing in for the thesis's kubeadm VM with Calico."""

    name = "kind"
    owns_cluster = True

    def __init__(
        self,
        dry_run: bool = True,
        keep: bool = False,
        existing: str = "fail",
        calico_manifest: Path | None = None,
        cni: str = "auto",
        cluster_name: str = "pac-harness",  # harness.infra.kind.CLUSTER_NAME, not imported early
    ) -> None:
        super().__init__(context=f"kind-{cluster_name}", dry_run=dry_run)
        self.cluster_name = cluster_name
        self.keep = keep
        self.existing = existing
        self.calico_manifest = calico_manifest
        self.requested_cni = cni
        self.cni = ""
        self.cni_reason = ""
        self.kind: KindCluster | None = None

    def provision(self, policy: PolicySet) -> None:
        from harness.infra import kind, kindimages

        binary = kind.check_prerequisites()
        node_image = kindimages.require_node_image()
        self.cni, self.cni_reason = kind.choose_cni(self.requested_cni, self.calico_manifest)
        self.kind = cluster = kind.KindCluster(binary, node_image, self.cni, self.cluster_name)
        cluster.create(self.existing)
        self.kubeconfig = cluster.kubeconfig
        cluster.install_cni(self.calico_manifest)
        self.network_probe = cluster.probe_network_policy(kindimages.debian_ref())
        # The cluster is ours: Istio's PeerAuthentication CRD (trimmed, scenarios/crds/)
        # goes in, so NSA-2.6's namespaces have their state, as on the local target.
        self.connect()
        self.install_crds()
        self.images = incluster.Images(
            kindimages.component("opa").ref,
            kindimages.component("replicator").ref,
            "pac-harness-replicator",
        )
        super().provision(policy)

    def describe(self) -> dict[str, Any]:
        node_image = self.kind.image if self.kind else None
        return {**super().describe(), "node_image": node_image, "cni": self.cni,
                "cni_reason": self.cni_reason}  # fmt: skip

    # The harness owns this cluster, but Calico and kind's storage run in these: a
    # webhook outage (or a deny) must not block them. Fixtures there are skipped.
    unreviewed = frozenset({"kube-system", "local-path-storage", HARNESS_NAMESPACE})

    def namespace_selector(self) -> dict[str, Any]:
        return excluded_namespaces(sorted(self.unreviewed))

    def object_selector(self) -> dict[str, Any] | None:
        return None

    def remove_created(self) -> None:
        if self.keep or (self.kind is not None and not self.kind.created):
            super().remove_created()  # the cluster stays: leave it as it was
        else:
            self.created = []  # the whole cluster goes

    def release(self) -> None:
        if self.kind is None:
            return
        if not self.keep and self.kind.created:
            with contextlib.suppress(TargetError):
                self.kind.delete()
        self.kind.cleanup()
        self.kind = None


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
