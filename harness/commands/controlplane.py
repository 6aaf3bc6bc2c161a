"""`harness controlplane`: a bare local etcd + kube-apiserver (no webhook) kept up until
Ctrl-C, for audit, `run --target cluster` or kubectl to talk to."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness.commands._shared import EXIT_OK, out

SUMMARY = "start the local etcd + kube-apiserver and wait (for audit, --target cluster, kubectl)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig-out", type=Path, help="also copy the kubeconfig here")


def run(args: argparse.Namespace) -> int:
    """A bare local control plane (no webhook) until Ctrl-C; its certificates and data
    live in a temporary folder that is removed on exit."""
    import shutil

    from harness.infra.controlplane import LocalControlPlane

    cluster = LocalControlPlane()
    try:
        cluster.start()
        kubeconfig = cluster.kubeconfig  # set by start()
        if args.kubeconfig_out and kubeconfig is not None:
            shutil.copy(kubeconfig, args.kubeconfig_out)
            kubeconfig = args.kubeconfig_out
        out.print(
            f"kube-apiserver at {cluster.url}\nkubeconfig {kubeconfig} "
            "(context pac-harness-local)\nCtrl-C stops it",
            markup=False,
            soft_wrap=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        cluster.stop()
