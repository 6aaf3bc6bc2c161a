"""kind and kubectl driven through subprocess: create a stand-in for the thesis's kubeadm
cluster (kind runs kubeadm in containers) from the node image built here
(harness.infra.kindimages), without kind's default CNI; install a NetworkPolicy-enforcing
CNI (Calico from its pinned manifest where its images can be pulled, else kube-router
built here); hand back a kubeconfig, and delete the cluster afterwards.

Every failure becomes one TargetError line naming what failed and its last error line,
so a user without Docker learns that in one sentence, not from a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harness import paths
from harness.errors import TargetError

CLUSTER_NAME = "pac-harness"
CALICO_VERSION = "v3.30.0"
CALICO_URL = (
    f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/calico.yaml"
)
# The manifest's sha256 could not be read from our machines (they reach no GitHub); until
# it is pinned here, set PAC_HARNESS_CALICO_SHA256 or pass a manifest you checked.
CALICO_SHA256: str | None = None
POD_SUBNETS = {"calico": "192.168.0.0/16", "kube-router": "10.244.0.0/16"}
# Where Calico's images come from; a registry that answers at all (even 401) can serve them.
CALICO_REGISTRY = "https://registry-1.docker.io/v2/"
KUBE_ROUTER_MANIFEST = Path(__file__).parent / "cni" / "kube-router.yaml"
NODES_READY_TIMEOUT = "300s"


def run(cmd: list[str], what: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run cmd; its stdout, or a one-line TargetError naming what failed."""
    try:
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            # Out of the terminal's process group: a second Ctrl-C cannot cut a teardown
            # short; on the first, subprocess.run kills the child and the target cleans up.
            start_new_session=True,
        )
    except FileNotFoundError:
        raise TargetError(f"{what}: {cmd[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{what}: no answer from {cmd[0]} within {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["(no output)"]
        raise TargetError(f"{what} failed (exit {result.returncode}): {lines[-1].strip()}")
    return result.stdout


def provider() -> str:
    """The container engine kind will use (kind's own variable picks podman or nerdctl)."""
    return os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "docker")


def kind_binary() -> str | None:
    """kind of the pinned version, on PATH or built into the cache by `tools install kind`."""
    from harness.infra import tools

    found = tools.locate(tools.get_tool("kind"))
    return str(found.path) if found else None


def kubectl_binary() -> str | None:
    """kubectl of the cluster's release: built into the cache, or on PATH."""
    from harness.infra import tools

    found = tools.locate(tools.get_tool("kubectl"))
    return str(found.path) if found else shutil.which("kubectl")


def kubectl_runner(kubeconfig: Path | None, context: str | None) -> Callable[..., str]:
    """kubectl(*args, what=..., timeout=...) -> stdout on one cluster, raising a one-line
    TargetError (the shape harness.infra.netprobe takes). No kubeconfig: kubectl's own
    default, as for the cluster target."""
    binary = kubectl_binary() or "kubectl"
    prefix = [binary, *(["--kubeconfig", str(kubeconfig)] if kubeconfig else [])]
    prefix += ["--context", context] if context else []

    def kubectl(*args: str, what: str, timeout: float = 600) -> str:
        return run([*prefix, *args], what, timeout=timeout)

    return kubectl


def check_prerequisites() -> str:
    """kind, kubectl and an answering container engine; returns kind's path, or raises
    one line naming everything that is missing."""
    engine = provider()
    kind = kind_binary()
    problems = [] if kind else ["kind not found (python -m harness tools install kind)"]
    if kubectl_binary() is None:
        problems.append("kubectl not found (python -m harness tools install kubectl)")
    if shutil.which(engine) is None:
        problems.append(f"{engine} not found on PATH")
    if shutil.which(engine):
        try:
            run([engine, "info"], f"{engine} info", timeout=30)
        except TargetError as exc:
            problems.append(f"the {engine} engine does not answer ({exc})")
    if not problems:
        from harness.infra.engine import privileged_problem

        problem = privileged_problem(engine)
        if problem:
            problems.append(problem)
    if problems or not kind:
        raise TargetError(
            "--target kind needs kind, kubectl and a running container engine: "
            + "; ".join(problems)
            + " (README: kind target; --target local needs none of them)"
        )
    return kind


def cluster_config(cni: str) -> str:
    """Two nodes of our node image; kubeadm takes every image from the ones preloaded in
    it (imageRepository), and the kubelet runs on cgroup v1 hosts (failCgroupV1: false:
    since v1.35 it refuses them by default, and our machines are cgroup v1)."""
    from harness.infra import kindimages

    patches = [
        yaml.safe_dump(
            {
                "kind": "ClusterConfiguration",
                "imageRepository": kindimages.REPOSITORY,
                "etcd": {"local": {"imageTag": kindimages.ETCD_TAG}},
            }
        ),
        yaml.safe_dump({"kind": "KubeletConfiguration", "failCgroupV1": False}),
    ]
    return yaml.safe_dump(
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "networking": {"disableDefaultCNI": True, "podSubnet": POD_SUBNETS[cni]},
            "kubeadmConfigPatches": patches,
            "nodes": [{"role": "control-plane"}, {"role": "worker"}],
        },
        sort_keys=False,
    )


def choose_cni(requested: str, calico_manifest: Path | None) -> tuple[str, str]:
    """The CNI to install and why: Calico (the thesis's) wherever its images can be
    pulled, else kube-router, which is built here."""
    if requested == "calico":
        return "calico", "requested with --cni calico"
    if requested == "kube-router":
        return "kube-router", "requested with --cni kube-router"
    try:
        with urllib.request.urlopen(CALICO_REGISTRY, timeout=5):
            pass
    except urllib.error.HTTPError:
        pass  # it answered: pulls can work
    except OSError as exc:
        reason = " ".join(str(getattr(exc, "reason", exc)).split())
        return "kube-router", (
            f"no image registry answers ({CALICO_REGISTRY}: {reason}), so Calico's images "
            "cannot be pulled, and Calico cannot be built from the Go module proxy"
        )
    if calico_manifest is None and not (
        os.environ.get("PAC_HARNESS_CALICO_SHA256") or CALICO_SHA256
    ):
        return "kube-router", "a registry answers, but no Calico manifest is pinned or given"
    return "calico", "Calico's registry answers"


class KindCluster:
    def __init__(self, kind: str, image: str, cni: str, name: str = CLUSTER_NAME) -> None:
        self.kind = kind
        self.name = name
        self.image = image
        self.cni = cni
        self.created = False
        self.kubeconfig: Path | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="pac-harness-kind-"))

    @property
    def context(self) -> str:
        return f"kind-{self.name}"

    def exists(self) -> bool:
        return self.name in run([self.kind, "get", "clusters"], "kind get clusters").split()

    def create(self, existing: str = "fail") -> None:
        """existing: what to do with a cluster of our name left by an interrupted run
        (fail, reuse or recreate)."""
        if self.exists():
            if existing == "fail":
                raise TargetError(
                    f"a kind cluster named {self.name} exists (left by an interrupted run?): "
                    "pass --existing-cluster reuse or recreate"
                )
            if existing == "recreate":
                self.delete()
        if not self.exists():
            config = self._workdir / "kind.yaml"
            config.write_text(cluster_config(self.cni))
            self.created = True  # from here on, whatever exists of it is ours to delete
            run(
                [
                    self.kind,
                    "create",
                    "cluster",
                    "--name",
                    self.name,
                    "--image",
                    self.image,
                    "--config",
                    str(config),
                    "--wait",
                    "0s",
                ],
                "kind create cluster",
                timeout=900,
            )
        self.kubeconfig = self._workdir / "kubeconfig"
        self.kubeconfig.write_text(
            run([self.kind, "get", "kubeconfig", "--name", self.name], "kind get kubeconfig")
        )

    def kubectl(self, *args: str, what: str, timeout: float = 600) -> str:
        return kubectl_runner(self.kubeconfig, self.context)(*args, what=what, timeout=timeout)

    def install_cni(self, calico_manifest: Path | None = None) -> None:
        """The chosen CNI, then wait until every node is Ready, which needs a working CNI."""
        if self.cni == "calico":
            manifest = calico_manifest or calico_manifest_file()
            self.kubectl("apply", "--server-side", "-f", str(manifest), what="installing Calico")
        else:
            self.kubectl("apply", "-f", str(kube_router_manifest(self._workdir)),
                         what="installing kube-router")  # fmt: skip
        self.kubectl(
            "wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={NODES_READY_TIMEOUT}",
            what="waiting for nodes to become Ready", timeout=400,
        )  # fmt: skip

    def probe_network_policy(self, image: str) -> dict[str, Any]:
        """Does the CNI enforce NetworkPolicy? Measured, not assumed (harness.infra.netprobe)."""
        from harness.infra import netprobe

        return netprobe.probe(self.kubectl, image, self._workdir)

    def delete(self) -> None:
        """Delete the cluster. Once more after thawing its frozen cgroups when the engine
        could not kill a node: on cgroup v1, the node's runc freezes a container's cgroup
        while it sets it up, and a kill that lands meanwhile (a run torn down under load)
        leaves `runc init` in the freezer for good, so the engine waits for an exit event
        that never comes."""
        command = [self.kind, "delete", "cluster", "--name", self.name]
        try:
            run(command, "kind delete cluster", timeout=300)
        except TargetError as exc:
            if "did not receive an exit event" not in str(exc) or not thaw_frozen(self.name):
                raise
            run(command, "kind delete cluster", timeout=300)

    def cleanup(self) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self._workdir)


FREEZER = Path("/sys/fs/cgroup/freezer/docker")


def thaw_frozen(cluster: str, root: Path = FREEZER) -> int:
    """Thaw every frozen cgroup v1 freezer below the cluster's node containers; how many."""
    ids = run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label=io.x-k8s.kind.cluster={cluster}"],
        "docker ps",
        timeout=60,
    ).split()
    thawed = 0
    for container in ids:
        for state in sorted((root / container).rglob("freezer.state")):
            with contextlib.suppress(OSError):
                if state.read_text().strip() != "THAWED":
                    state.write_text("THAWED")
                    thawed += 1
    return thawed


def kube_router_manifest(directory: Path) -> Path:
    from harness.infra import kindimages

    text = KUBE_ROUTER_MANIFEST.read_text()
    path = directory / "kube-router.yaml"
    path.write_text(text.replace("KUBE_ROUTER_IMAGE", kindimages.component("kube-router").ref))
    return path


def calico_manifest_file() -> Path:
    """The pinned Calico manifest from the cache, else downloaded and checked."""
    expected = os.environ.get("PAC_HARNESS_CALICO_SHA256") or CALICO_SHA256
    if not expected:
        raise TargetError(
            f"no sha256 is pinned for Calico {CALICO_VERSION}'s manifest: set "
            "PAC_HARNESS_CALICO_SHA256 or pass --calico-manifest FILE (a copy you checked)"
        )
    cached = paths.cache_dir() / "manifests" / f"calico-{CALICO_VERSION}.yaml"
    if cached.is_file() and _sha256(cached.read_bytes()) == expected:
        return cached
    try:
        with urllib.request.urlopen(CALICO_URL, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise TargetError(f"downloading {CALICO_URL}: {exc}") from None
    if _sha256(data) != expected:
        raise TargetError(f"{CALICO_URL}: sha256 {_sha256(data)} is not the pinned {expected}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return cached


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
