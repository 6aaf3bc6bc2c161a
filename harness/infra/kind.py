"""kind and kubectl driven through subprocess: create a stand-in for the thesis's kubeadm
cluster (kind runs kubeadm in containers; here without its default CNI, with Calico from
its official manifest), hand back a kubeconfig, and delete the cluster afterwards.

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
import urllib.request
from pathlib import Path

import yaml

from harness import paths
from harness.errors import TargetError

KIND_VERSION = "v0.33.0"
# The image kind v0.33.0's release notes list for Kubernetes v1.37.0, by digest.
NODE_IMAGE = (
    "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
)
CLUSTER_NAME = "pac-harness"
CALICO_VERSION = "v3.30.0"
CALICO_URL = (
    f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/calico.yaml"
)
# The manifest's sha256 could not be read from our machines (they reach no GitHub); until
# it is pinned here, set PAC_HARNESS_CALICO_SHA256 or pass a manifest you checked.
CALICO_SHA256: str | None = None
POD_SUBNET = "192.168.0.0/16"  # Calico's default IP pool
NODES_READY_TIMEOUT = "300s"


def run(cmd: list[str], what: str, timeout: float = 600, env: dict | None = None) -> str:
    """Run cmd; its stdout, or a one-line TargetError naming what failed."""
    try:
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
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


def check_prerequisites() -> str:
    """kind, kubectl and an answering container engine; returns kind's path, or raises
    one line naming everything that is missing."""
    engine = provider()
    kind = kind_binary()
    problems = [] if kind else ["kind not found (python -m harness tools install kind)"]
    problems += [f"{n} not found on PATH" for n in ("kubectl", engine) if shutil.which(n) is None]
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
    if problems:
        raise TargetError(
            "--target kind needs kind, kubectl and a running container engine: "
            + "; ".join(problems)
            + " (README: kind target; --target local needs none of them)"
        )
    return kind


def cluster_config() -> str:
    return yaml.safe_dump(
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "networking": {"disableDefaultCNI": True, "podSubnet": POD_SUBNET},
            "nodes": [{"role": "control-plane"}, {"role": "worker"}],
        },
        sort_keys=False,
    )


class KindCluster:
    def __init__(
        self, kind: str = "kind", name: str = CLUSTER_NAME, image: str = NODE_IMAGE
    ) -> None:
        self.kind = kind
        self.name = name
        self.image = image
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
            config.write_text(cluster_config())
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
            self.created = True
        self.kubeconfig = self._workdir / "kubeconfig"
        self.kubeconfig.write_text(
            run([self.kind, "get", "kubeconfig", "--name", self.name], "kind get kubeconfig")
        )

    def install_calico(self, manifest: Path | None = None) -> None:
        """Calico from its official manifest (checked against its sha256), then wait until
        every node is Ready, which needs a working CNI."""
        manifest = manifest or calico_manifest()
        kubectl = ["kubectl", "--kubeconfig", str(self.kubeconfig), "--context", self.context]
        run([*kubectl, "apply", "--server-side", "-f", str(manifest)], "installing Calico")
        run(
            [*kubectl, "wait", "--for=condition=Ready", "nodes", "--all",
             f"--timeout={NODES_READY_TIMEOUT}"],
            "waiting for nodes to become Ready",
            timeout=400,
        )  # fmt: skip

    def delete(self) -> None:
        run(
            [self.kind, "delete", "cluster", "--name", self.name],
            "kind delete cluster",
            timeout=300,
        )

    def cleanup(self) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self._workdir)


def calico_manifest() -> Path:
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
