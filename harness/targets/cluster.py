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
from harness.infra import kubeapi
from harness.infra.kubeapi import ApiError
from harness.model.policies import PolicySet
from harness.targets import incluster
from harness.targets.kube import (
    HARNESS_NAMESPACE,
    KubeTarget,
    Site,
    excluded_namespaces,
    object_path,
    replay_selector,
    webhook_configuration,
)
from harness.targets.kubeobjects import ClusterObjects

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


class InClusterOpa:
    """OPA and its replicator installed into a cluster (harness.targets.incluster), its
    data API reached through kube-apiserver's service proxy: what a user's cluster and
    kind share."""

    def __init__(self, images: incluster.Images = incluster.OFFICIAL) -> None:
        self.images = images
        self._creds: incluster.Credentials | None = None

    @property
    def creds(self) -> incluster.Credentials:
        """The webhook's CA and serving certificate, made once per run."""
        if self._creds is None:
            self._creds = incluster.generate_credentials()
        return self._creds

    def planned(self, objects: ClusterObjects, policy: PolicySet) -> list[dict[str, Any]]:
        bundle = incluster.bundle_tarball(policy)
        return incluster.manifests(bundle, self.creds, objects.served_state_kinds(), self.images)

    def install(self, objects: ClusterObjects, policy: PolicySet) -> None:
        for body in self.planned(objects, policy):
            if body["kind"] == "Namespace":
                objects.ensure_namespace(body["metadata"]["name"], body["metadata"]["labels"])
                if HARNESS_NAMESPACE in objects.foreign_namespaces:
                    raise TargetError(
                        f"namespace {HARNESS_NAMESPACE} exists and is not the harness's; "
                        "refusing to install into it"
                    )
            elif not objects.create(body, track=True):
                raise TargetError(
                    f"{body['kind']} {body['metadata']['name']} already exists: "
                    "left by an earlier run? delete it or the pac-harness namespace"
                )
        self._wait_available(objects)

    def _wait_available(self, objects: ClusterObjects) -> None:
        path = object_path(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": incluster.NAME,
             "namespace": HARNESS_NAMESPACE}}
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            status = json.loads(objects.call("GET", path)).get("status", {})
            if status.get("availableReplicas", 0) >= 1:
                return
            time.sleep(2)
        raise TargetError(
            f"OPA did not become available in {READY_TIMEOUT_S} s "
            f"(kubectl -n {HARNESS_NAMESPACE} describe pods -l app={incluster.NAME})"
        )

    def put_data(self, objects: ClusterObjects, path: str, value: Any) -> None:
        objects.call("PUT", incluster.proxy_path(f"/v1/data/{path}"), value)

    def get_data(self, objects: ClusterObjects, path: str) -> Any:
        answer = objects.call("GET", incluster.proxy_path(f"/v1/data/{path}"))
        return json.loads(answer).get("result")

    def describe(self) -> dict[str, Any]:
        return {
            "engine": f"opa in-cluster ({self.images.replicator_name} replication)",
            "engine_version": self.images.opa.rsplit(":", 1)[1].removesuffix("-static"),
            "images": {"opa": self.images.opa, "replicator": self.images.replicator},
        }


class ClusterSite(Site):
    """A cluster a user names by kubeconfig and context: never created or deleted,
    touched only in the harness's namespace and the namespaces and objects it labels."""

    owns_cluster = False

    def __init__(
        self,
        kubeconfig: Path | None = None,
        context: str | None = None,
        dry_run: bool = True,
        probe_image: str | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.dry_run = dry_run
        self.probe_image = probe_image
        self.network_probe: dict[str, Any] | None = None
        self.opa = InClusterOpa()
        self._objects: ClusterObjects | None = None

    def connect(self) -> Any:
        api = connect(self.kubeconfig, self.context)
        try:
            kubeapi.request(api, "GET", "/version")
        except Exception as exc:
            api.close()
            raise TargetError(f"context {self.context}: API server unreachable ({exc})") from None
        return api

    def provision(self, objects: ClusterObjects, policy: PolicySet) -> None:
        self._objects = objects
        self._probe_network_policy()
        self.opa.install(objects, policy)

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

    def webhook_client_config(self) -> dict[str, Any]:
        return incluster.webhook_client_config()

    def webhook_ca(self) -> bytes:
        return self.opa.creds.ca_pem

    def namespace_selector(self) -> dict[str, Any]:
        return replay_selector()

    def object_selector(self) -> dict[str, Any] | None:
        # ClusterRoles and bindings have no namespace: without this the webhook would
        # judge every one the cluster's own operators create while the run lasts.
        return replay_selector()

    def put_data(self, path: str, value: Any) -> None:
        self.opa.put_data(self._connected(), path, value)

    def get_data(self, path: str) -> Any:
        return self.opa.get_data(self._connected(), path)

    def _connected(self) -> ClusterObjects:
        if self._objects is None:
            raise TargetError("the cluster target is not started")
        return self._objects

    def describe(self, objects: ClusterObjects) -> dict[str, Any]:
        return {
            **self.opa.describe(),
            "kubernetes": objects.server_version(),
            "context": self.context,
            "transport": "kube-apiserver "
            + ("dry-run" if self.dry_run else "create+delete")
            + " -> HTTPS webhook (Service)",
            "network_policy_probe": self.network_probe,
        }

    def teardown(self) -> contextlib.AbstractContextManager[None]:
        """Teardown must finish even if the user presses Ctrl-C again meanwhile."""
        return _sigint_ignored()

    def remove_created(self, objects: ClusterObjects) -> None:
        namespaces = [b["metadata"]["name"] for b in objects.created if b["kind"] == "Namespace"]
        objects.remove_created()
        deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT_S
        for name in namespaces:
            while time.monotonic() < deadline:
                try:
                    objects.call("GET", f"/api/v1/namespaces/{name}")
                except ApiError:
                    break  # gone
                time.sleep(1)


class KindSite(ClusterSite):
    """A throw-away kind cluster from the node image built here, with a NetworkPolicy-
    enforcing CNI, standing in for the thesis's kubeadm VM with Calico."""

    owns_cluster = True
    # The harness owns this cluster, but Calico and kind's storage run in these: a
    # webhook outage (or a deny) must not block them. Fixtures there are skipped.
    unreviewed = frozenset({"kube-system", "local-path-storage", HARNESS_NAMESPACE})

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

    def connect(self) -> Any:
        from harness.infra import kind, kindimages

        binary = kind.check_prerequisites()
        node_image = kindimages.require_node_image()
        self.cni, self.cni_reason = kind.choose_cni(self.requested_cni, self.calico_manifest)
        self.kind = cluster = kind.KindCluster(binary, node_image, self.cni, self.cluster_name)
        cluster.create(self.existing)
        self.kubeconfig = cluster.kubeconfig
        cluster.install_cni(self.calico_manifest)
        self.network_probe = cluster.probe_network_policy(kindimages.debian_ref())
        return super().connect()

    def provision(self, objects: ClusterObjects, policy: PolicySet) -> None:
        from harness.infra import kindimages

        # The cluster is ours: Istio's PeerAuthentication CRD (trimmed, scenarios/crds/)
        # goes in, so NSA-2.6's namespaces have their state, as on the local target.
        objects.install_crds()
        self.opa.images = incluster.Images(
            kindimages.component("opa").ref,
            kindimages.component("replicator").ref,
            "pac-harness-replicator",
        )
        self._objects = objects
        self.opa.install(objects, policy)

    def namespace_selector(self) -> dict[str, Any]:
        return excluded_namespaces(sorted(self.unreviewed))

    def object_selector(self) -> dict[str, Any] | None:
        return None

    def describe(self, objects: ClusterObjects) -> dict[str, Any]:
        node_image = self.kind.image if self.kind else None
        return {**super().describe(objects), "node_image": node_image, "cni": self.cni,
                "cni_reason": self.cni_reason}  # fmt: skip

    def remove_created(self, objects: ClusterObjects) -> None:
        if self.keep or (self.kind is not None and not self.kind.created):
            super().remove_created(objects)  # the cluster stays: leave it as it was
        else:
            objects.created = []  # the whole cluster goes

    def release(self) -> None:
        if self.kind is None:
            return
        if not self.keep and self.kind.created:
            with contextlib.suppress(TargetError):
                self.kind.delete()
        self.kind.cleanup()
        self.kind = None


class ClusterTarget(KubeTarget):
    """The OPA webhook on a user's cluster."""

    name = "cluster"

    def __init__(
        self,
        kubeconfig: Path | None = None,
        context: str | None = None,
        dry_run: bool = True,
        probe_image: str | None = None,
    ) -> None:
        super().__init__(ClusterSite(kubeconfig, context, dry_run, probe_image))

    def planned_objects(self, policy: PolicySet) -> list[dict[str, Any]]:
        return planned_objects(self, policy)


class KindTarget(KubeTarget):
    """The OPA webhook on a kind cluster the harness creates."""

    name = "kind"

    def __init__(
        self,
        dry_run: bool = True,
        keep: bool = False,
        existing: str = "fail",
        calico_manifest: Path | None = None,
        cni: str = "auto",
        cluster_name: str = "pac-harness",
    ) -> None:
        super().__init__(KindSite(dry_run, keep, existing, calico_manifest, cni, cluster_name))

    def planned_objects(self, policy: PolicySet) -> list[dict[str, Any]]:
        return planned_objects(self, policy)


def planned_objects(target: KubeTarget, policy: PolicySet) -> list[dict[str, Any]]:
    """What start() would create, for --dry-run: connects to the cluster the context
    names as it is (kind: one that exists; none is created) and changes nothing."""
    site = target.site
    if not isinstance(site, ClusterSite):
        raise TargetError(f"--dry-run applies to --target cluster or kind, not {target.name}")
    target.objects.api = ClusterSite.connect(site)
    hook = webhook_configuration(
        site.webhook_client_config(),
        site.webhook_ca(),
        site.namespace_selector(),
        site.object_selector(),
    )
    return incluster.redacted([*site.opa.planned(target.objects, policy), hook])


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
