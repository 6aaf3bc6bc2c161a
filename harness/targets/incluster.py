"""OPA and kube-mgmt inside a cluster, as in the thesis's figures 5.2 and 5.3: one
Deployment in the harness's namespace (OPA serving the webhook over TLS, kube-mgmt
replicating cluster state into it), a Service the ValidatingWebhookConfiguration points
at, and least-privilege RBAC (read-only on the replicated kinds).

Everything is generated here as plain objects, so the kind and cluster targets apply
exactly what the test suite checks against a real kube-apiserver. Policies and the admin
config reach OPA as a bundle in a ConfigMap; cluster state only through kube-mgmt.
"""

from __future__ import annotations

import base64
import io
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.infra import psa, tls
from harness.model.manifests import KindInfo
from harness.model.policies import PolicySet
from harness.targets.kube import HARNESS_NAMESPACE, MANAGED_BY, WEBHOOK_PATH
from harness.targets.opa import write_bundle_source

# Official images, pinned by tag (digests could not be read from our machines). The
# static OPA build runs as a non-root user on a distroless base.
OPA_IMAGE = "docker.io/openpolicyagent/opa:1.22.3-static"
KUBE_MGMT_IMAGE = "docker.io/openpolicyagent/kube-mgmt:11.0.14"


@dataclass(frozen=True)
class Images:
    """OPA and the replicator: the official images (an existing cluster pulls them) or
    the ones built here and preloaded in the kind node image. The replicator built here
    takes kube-mgmt's flags, so the Deployment is the same either way."""

    opa: str
    replicator: str
    replicator_name: str  # the container's name, which says which replicator ran


OFFICIAL = Images(OPA_IMAGE, KUBE_MGMT_IMAGE, "kube-mgmt")

NAME = "pac-harness-opa"
SERVICE = "opa"
OPA_PORT = 8443
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # where client-go looks
CONFIGMAP_LIMIT = 1_000_000  # bytes; the API server refuses larger objects
SERVICE_HOSTS = [
    f"{SERVICE}.{HARNESS_NAMESPACE}.svc",
    f"{SERVICE}.{HARNESS_NAMESPACE}.svc.cluster.local",
]


@dataclass(frozen=True)
class Credentials:
    """The CA the webhook trusts and OPA's serving pair, as PEM."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def generate_credentials() -> Credentials:
    with tempfile.TemporaryDirectory(prefix="pac-harness-pki-") as tmp:
        directory = Path(tmp)
        ca = tls.new_authority(directory, "pac-harness webhook CA")
        pair = tls.issue(ca, directory, "opa", SERVICE_HOSTS[0], SERVICE_HOSTS)
        return Credentials(ca.cert_pem, pair.cert.read_bytes(), pair.key.read_bytes())


def bundle_tarball(policy: PolicySet) -> bytes:
    """The bundle OPA loads at start (no cluster state: kube-mgmt writes that). Packed
    in Python, so the cluster targets need no local opa binary."""
    with tempfile.TemporaryDirectory(prefix="pac-harness-bundle-") as tmp:
        src = write_bundle_source(policy, Path(tmp) / "src", with_state=False)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(src.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname="/" + path.relative_to(src).as_posix())
    data = buffer.getvalue()
    if len(data) > CONFIGMAP_LIMIT:
        raise HarnessError(f"{policy.root}: policy bundle is {len(data)} bytes, over a ConfigMap")
    return data


def replicate_flags(kinds: list[KindInfo]) -> list[str]:
    """kube-mgmt's --replicate[-cluster]=[group/]version/resource for each kind."""
    flags = []
    for info in kinds:
        gvr = "/".join(p for p in (info.group, info.version, info.resource) if p)
        flags.append(f"--replicate={gvr}" if info.namespaced else f"--replicate-cluster={gvr}")
    return flags


def _meta(name: str, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY)}
    if namespaced:
        meta["namespace"] = HARNESS_NAMESPACE
    return meta


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hardened(container: dict[str, Any]) -> dict[str, Any]:
    """The settings our own policies ask of every container."""
    return {
        **container,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
    }


def _deployment(kinds: list[KindInfo], images: Images) -> dict[str, Any]:
    opa = _hardened(
        {
            "name": "opa",
            "image": images.opa,
            "args": [
                "run",
                "--server",
                f"--addr=0.0.0.0:{OPA_PORT}",
                "--tls-cert-file=/certs/tls.crt",
                "--tls-private-key-file=/certs/tls.key",
                "--log-level=error",
                "--disable-telemetry",
                "--set=decision_logs.console=false",
                "--bundle",
                "/bundle/bundle.tar.gz",
            ],
            "ports": [{"name": "https", "containerPort": OPA_PORT}],
            "readinessProbe": {
                "httpGet": {"path": "/health?bundles", "port": OPA_PORT, "scheme": "HTTPS"},
                "periodSeconds": 2,
            },
            "volumeMounts": [
                {"name": "certs", "mountPath": "/certs", "readOnly": True},
                {"name": "bundle", "mountPath": "/bundle", "readOnly": True},
            ],
        }
    )
    mgmt = _hardened(
        {
            "name": images.replicator_name,
            "image": images.replicator,
            "args": [
                # OPA on the pod's loopback; its certificate names the Service, not 127.0.0.1.
                f"--opa-url=https://127.0.0.1:{OPA_PORT}/v1",
                "--opa-allow-insecure",
                "--enable-policies=false",  # policies come in the bundle
                "--enable-data=false",
                "--replicate-path=kubernetes",
                *replicate_flags(kinds),
            ],
            "volumeMounts": [
                {"name": "api-token", "mountPath": TOKEN_DIR, "readOnly": True},
            ],
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": NAME}},
            "template": {
                "metadata": {"labels": {"app": NAME, **MANAGED_BY}},
                "spec": {
                    "serviceAccountName": NAME,
                    # Only kube-mgmt gets an API token (projected below); OPA needs none.
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [opa, mgmt],
                    "volumes": [
                        {"name": "certs", "secret": {"secretName": f"{NAME}-tls"}},
                        {"name": "bundle", "configMap": {"name": f"{NAME}-bundle"}},
                        _token_volume(),
                    ],
                },
            },
        },
    }


def _token_volume() -> dict[str, Any]:
    """What automounting would give, as an explicit projected volume for one container."""
    return {
        "name": "api-token",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ]
        },
    }


def _rbac(kinds: list[KindInfo]) -> list[dict[str, Any]]:
    by_group: dict[str, list[str]] = {}
    for info in kinds:
        by_group.setdefault(info.group, []).append(info.resource)
    rules = [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": ["get", "list", "watch"]}
        for group, resources in sorted(by_group.items())
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(f"{NAME}-replicate", namespaced=False),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(f"{NAME}-replicate", namespaced=False),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{NAME}-replicate",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": HARNESS_NAMESPACE}],
        },
    ]


def namespace() -> dict[str, Any]:
    """The harness's own namespace; its pod meets Pod Security 'restricted'."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": HARNESS_NAMESPACE,
            "labels": {**MANAGED_BY, **psa.RESTRICTED},
        },
    }


def manifests(
    bundle: bytes, creds: Credentials, kinds: list[KindInfo], images: Images = OFFICIAL
) -> list[dict[str, Any]]:
    """Every object the in-cluster install creates, in creation order (the webhook
    configuration comes later, once OPA answers)."""
    return [
        namespace(),
        *_rbac(kinds),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta(f"{NAME}-tls"),
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": _b64(creds.cert_pem), "tls.key": _b64(creds.key_pem)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(f"{NAME}-bundle"),
            "binaryData": {"bundle.tar.gz": _b64(bundle)},
        },
        _deployment(kinds, images),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(SERVICE),
            "spec": {
                "selector": {"app": NAME},
                "ports": [{"name": "https", "port": 443, "targetPort": OPA_PORT}],
            },
        },
    ]


def webhook_client_config() -> dict[str, Any]:
    return {
        "service": {
            "namespace": HARNESS_NAMESPACE,
            "name": SERVICE,
            "path": WEBHOOK_PATH,
            "port": 443,
        }
    }


def proxy_path(path: str) -> str:
    """OPA's API through kube-apiserver's service proxy: the harness reaches OPA with the
    kubeconfig's credentials, without a port-forward."""
    return f"/api/v1/namespaces/{HARNESS_NAMESPACE}/services/https:{SERVICE}:443/proxy{path}"


def redacted(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For printing: no private key, no bundle bytes."""
    out = []
    for obj in objects:
        if obj["kind"] == "Secret":
            obj = {**obj, "data": {k: "<generated at run time>" for k in obj["data"]}}
        elif obj["kind"] == "ConfigMap" and "binaryData" in obj:
            size = {k: f"<{len(base64.b64decode(v))} bytes>" for k, v in obj["binaryData"].items()}
            obj = {**obj, "binaryData": size}
        out.append(obj)
    return out
