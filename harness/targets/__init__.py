"""Decision targets, by the name `--target` takes, and the options the cluster-backed
ones need (which cluster, dry-run or real objects, what to do with leftovers).

Its one job is to turn a prepared AdmissionReview (or node snapshot) into a timed
decision behind one interface (targets.base.Target), wherever the decision is made:
in process, an OPA server, a kube-apiserver webhook on the local control plane, kind or
an existing cluster, with the replicator and in-cluster objects those need.

May import: harness (errors, paths, progress), harness.model, harness.infra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.targets.base import Decision, Target


@dataclass(frozen=True)
class TargetOptions:
    kubeconfig: Path | None = None
    context: str | None = None
    dry_run: bool = True  # server-side dry-run; False creates and deletes real objects
    keep: bool = False  # kind: keep the cluster afterwards
    existing: str = "fail"  # kind: a leftover cluster is refused, reused or recreated
    calico_manifest: Path | None = None
    cni: str = "auto"  # kind: calico, kube-router, or auto (Calico where it can be pulled)
    cluster_name: str = "pac-harness"  # kind: the cluster's name (tests use their own)
    probe_image: str | None = None  # cluster: probe NetworkPolicy enforcement with it


# Which targets each option means something to (checked, so a flag is never ignored).
OPTION_TARGETS = {
    "kubeconfig": {"cluster"},
    "context": {"cluster"},
    "dry_run": {"kind", "cluster"},
    "keep": {"kind"},
    "existing": {"kind"},
    "calico_manifest": {"kind"},
    "cni": {"kind"},
    "cluster_name": {"kind"},
    "probe_image": {"cluster"},
}


# Each target's module loads only when that target is asked for: a node-check before
# kubelet starts should not pay for the cluster clients it never uses.
def _embedded(o: TargetOptions) -> Target:
    from harness.targets.embedded import EmbeddedTarget

    return EmbeddedTarget()


def _wasm(o: TargetOptions) -> Target:
    from harness.targets.wasm import WasmTarget

    return WasmTarget()


def _opa(o: TargetOptions) -> Target:
    from harness.targets.opa import OpaServerTarget

    return OpaServerTarget()


def _local(o: TargetOptions) -> Target:
    from harness.targets.local import LocalTarget

    return LocalTarget()


def _vap(o: TargetOptions) -> Target:
    from harness.targets.vap import VapTarget

    return VapTarget()


def _kind(o: TargetOptions) -> Target:
    from harness.targets.cluster import KindTarget

    return KindTarget(o.dry_run, o.keep, o.existing, o.calico_manifest, o.cni, o.cluster_name)


def _cluster(o: TargetOptions) -> Target:
    from harness.targets.cluster import ClusterTarget

    return ClusterTarget(o.kubeconfig, o.context, o.dry_run, o.probe_image)


_FACTORIES: dict[str, Callable[[TargetOptions], Target]] = {
    "wasm": _wasm,
    "embedded": _embedded,
    "opa": _opa,
    "local": _local,
    "vap": _vap,
    "kind": _kind,
    "cluster": _cluster,
}


def target_names() -> list[str]:
    return list(_FACTORIES)


def make_target(name: str, options: TargetOptions | None = None) -> Target:
    options = options or TargetOptions()
    if name not in _FACTORIES:
        raise HarnessError(f"unknown target {name!r} (choose from {', '.join(target_names())})")
    defaults = TargetOptions()
    for option, targets in OPTION_TARGETS.items():
        if getattr(options, option) != getattr(defaults, option) and name not in targets:
            flag = "--no-dry-run" if option == "dry_run" else "--" + option.replace("_", "-")
            flag = "--existing-cluster" if option == "existing" else flag
            raise HarnessError(f"{flag} applies to --target {' or '.join(sorted(targets))}")
    return _FACTORIES[name](options)


__all__ = ["Decision", "Target", "TargetOptions", "make_target", "target_names"]
