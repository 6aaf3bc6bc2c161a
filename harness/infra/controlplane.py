"""A real, single-machine Kubernetes control plane: etcd and kube-apiserver built from
source, started on loopback ports with certificates the harness generates. No kubelet,
scheduler or controller-manager: admission happens before any of them would act.

Without a controller-manager nothing mints service accounts or garbage-collects, so the
harness creates what fixtures need and uses a fresh etcd data directory per run.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.errors import TargetError
from harness.infra import processes, tls, tools
from harness.infra.processes import free_port

READY_TIMEOUT_S = 120


class LocalControlPlane:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="pac-harness-cp-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.kubeconfig: Path | None = None
        self.url: str | None = None

    def start(self) -> None:
        etcd_bin = tools.require("etcd")
        apiserver_bin = tools.require("kube-apiserver")
        pki = self.workdir / "pki"
        ca = tls.new_authority(pki, "pac-harness cluster CA")
        serving = tls.issue(
            ca,
            pki,
            "apiserver",
            "kube-apiserver",
            ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc"],
        )
        admin = tls.issue(
            ca, pki, "admin", "pac-harness-admin", organization="system:masters", client=True
        )
        sa_key = ec.generate_private_key(ec.SECP256R1())
        (pki / "sa.key").write_bytes(
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        self._spawn(
            "etcd",
            [
                str(etcd_bin),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "error",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(apiserver_bin),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.path}",
                "--authorization-mode=RBAC",
                "--anonymous-auth=false",
                "--enable-admission-plugins=PodSecurity",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # No Service endpoints to reconcile on a loopback-only control plane.
                "--endpoint-reconciler-type=none",
                "--v=0",
            ],
        )
        self.url = f"https://127.0.0.1:{api_port}"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "pac-harness-local",
                    "clusters": [
                        {
                            "name": "local",
                            "cluster": {"server": self.url, "certificate-authority": str(ca.path)},
                        }
                    ],
                    "users": [
                        {
                            "name": "admin",
                            "user": {
                                "client-certificate": str(admin.cert),
                                "client-key": str(admin.key),
                            },
                        }
                    ],
                    "contexts": [
                        {
                            "name": "pac-harness-local",
                            "context": {"cluster": "local", "user": "admin"},
                        }
                    ],
                }
            )
        )
        self._wait_ready(ca.path, admin)

    def start_controllers(self, controllers: list[str]) -> None:
        """kube-controller-manager running only the named controllers (the RBAC oracle
        wants the ClusterRole aggregation controller), with the admin credentials."""
        if self.kubeconfig is None:
            raise TargetError("start the control plane before its controllers")
        self._spawn(
            "kube-controller-manager",
            [
                str(tools.require("kube-controller-manager")),
                f"--kubeconfig={self.kubeconfig}",
                f"--controllers={','.join(controllers)}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--v=0",
            ],
        )

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("w")
        self.procs.append(
            subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=processes.die_with_parent,
            )
        )

    def _wait_ready(self, ca: Path, admin: tls.KeyPair) -> None:
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.load_cert_chain(str(admin.cert), str(admin.key))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for proc, name in zip(self.procs, ("etcd", "kube-apiserver"), strict=True):
                if proc.poll() is not None:
                    raise TargetError(
                        f"{name} exited with code {proc.returncode} while starting ({self.last_log(name)})"
                    )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=5) as r,
            ):
                if r.status == 200:
                    return
            time.sleep(0.5)
        raise TargetError(
            f"kube-apiserver not ready within {READY_TIMEOUT_S} s ({self.last_log('kube-apiserver')})"
        )

    def last_log(self, name: str) -> str:
        with contextlib.suppress(OSError):
            lines = (self.workdir / f"{name}.log").read_text().strip().splitlines()
            if lines:
                return lines[-1][:240]
        return "no log output"

    def stop(self) -> None:
        for proc in reversed(self.procs):
            processes.stop(proc)
        self.procs = []
        shutil.rmtree(self.workdir, ignore_errors=True)
