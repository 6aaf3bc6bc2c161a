"""The kind target's images, built on this machine with no image registry: a Debian
rootfs from debootstrap, kind's base image rebuilt from it (kind's own files from the
pinned kind module, containerd, runc, crictl and CNI plugins from the Go module proxy),
one image per component kubeadm and the harness deploy, and the node image with every
component image preloaded into its containerd, so nothing is pulled when a cluster
starts.

Images are tagged with a digest of their recipe (pinned versions, package lists, our
sources), so a changed recipe builds a new image and an unchanged one is reused; the
provenance file in the cache says what each image was built from and how long it took.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError, TargetError
from harness.infra import tools
from harness.infra.kind import run

Log = Callable[[str], None]

REPOSITORY = "pac-harness.local"
SUITE = "bookworm"
# Bump when a recipe below changes in a way its inputs do not show.
RECIPE = 1
# kind's base image packages (images/base/Dockerfile) that kind clusters use, plus ipset
# for kube-router and netcat for the NetworkPolicy probe pods.
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "e2fsprogs",
    "bash",
    "ca-certificates",
    "jq",
    "procps",
    "ipset",
    "netcat-openbsd",
]
K8S = tools.get_tool("kube-apiserver").version
ETCD_TAG = f"{tools.get_tool('etcd').version}-0"
PAUSE_VERSION = "3.10.2"  # kubeadm v1.37's PauseVersion
KIND_PAUSE = "registry.k8s.io/pause:3.10"  # the sandbox image kind's containerd config names
REPLICATOR_SOURCE = Path(__file__).parent / "images" / "replicator"


def image(name: str, tag: str) -> str:
    return f"{REPOSITORY}/{name}:{tag}"


@dataclass(frozen=True)
class Component:
    """A one-process image: a binary on an empty filesystem or on the Debian rootfs."""

    name: str
    tag: str
    binary: str  # a tool name, or "pause" / "replicator" (built here)
    path: str  # where the binary goes in the image
    on_debian: bool = False  # needs iptables, ipset and friends (kube-proxy, kube-router)
    entrypoint: bool = False  # the image runs the binary without a command (coredns, pause)

    @property
    def ref(self) -> str:
        return image(self.name, self.tag)


def components() -> list[Component]:
    bin_path = "/usr/local/bin/"
    kube = [
        Component(n, f"v{K8S}", n, bin_path + n, on_debian=n == "kube-proxy")
        for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
    ]
    return [
        *kube,
        Component("etcd", ETCD_TAG, "etcd", bin_path + "etcd"),
        Component("coredns", f"v{tools.get_tool('coredns').version}", "coredns", "/coredns", entrypoint=True),
        Component("pause", PAUSE_VERSION, "pause", "/pause", entrypoint=True),
        Component(
            "kube-router", f"v{tools.get_tool('kube-router').version}", "kube-router",
            bin_path + "kube-router", on_debian=True, entrypoint=True,
        ),
        Component("opa", tools.get_tool("opa").version, "opa", "/opa", entrypoint=True),
        Component("replicator", _source_digest(REPLICATOR_SOURCE)[:12], "replicator", "/replicator", entrypoint=True),
    ]  # fmt: skip


def component(name: str) -> Component:
    return next(c for c in components() if c.name == name)


def debian_ref() -> str:
    return image("debian", f"{SUITE}-{_digest([SUITE, *PACKAGES])[:12]}")


def base_ref() -> str:
    base_tools = [t for t in tools.TOOLS.values() if t.group == "node" and _in_base(t.name)]
    parts = [debian_ref(), kind_version(), RECIPE, BASE_DOCKERFILE]
    parts += [f"{t.name}={t.version}" for t in base_tools]
    return image("kind-base", _digest(parts)[:12])


def node_ref() -> str:
    parts = [base_ref(), RECIPE, *(c.ref for c in components())]
    parts += [f"{n}={tools.get_tool(n).version}" for n in ("kubelet", "kubeadm", "kubectl")]
    return image("kind-node", f"v{K8S}-{_digest(parts)[:12]}")


def kind_version() -> str:
    return f"v{tools.get_tool('kind').version}"


def _in_base(name: str) -> bool:
    return name in ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "crictl") or (
        name.startswith("cni-")
    )


def _digest(parts: Sequence[object]) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()


def _source_digest(directory: Path) -> str:
    return _digest(
        [
            f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
            for p in sorted(directory.iterdir())
        ]
    )


# ---------------------------------------------------------------- engine calls


def _docker(*args: str, what: str, timeout: float, stdin: bytes | None) -> bytes:
    """The engine's CLI, output as bytes (legacy builder: BuildKit may want to reach a
    registry); a failure is one TargetError line with docker's last words."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    try:
        result = subprocess.run(
            ["docker", *args], input=stdin, capture_output=True, timeout=timeout, env=env
        )
    except FileNotFoundError:
        raise TargetError(f"{what}: docker not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{what}: no answer from docker within {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        raise TargetError(f"{what} failed (exit {result.returncode}): {(lines or ['?'])[-1]}")
    return result.stdout


def docker(*args: str, what: str, timeout: float = 1800, stdin: bytes | None = None) -> str:
    return _docker(*args, what=what, timeout=timeout, stdin=stdin).decode(errors="replace")


def exists(ref: str) -> bool:
    try:
        docker("image", "inspect", ref, what="docker image inspect", timeout=60)
    except TargetError:
        return False
    return True


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref, what="inspect").strip()


# ---------------------------------------------------------------- provenance


@dataclass
class Provenance:
    """What one image was built from, kept in the cache beside the images."""

    ref: str
    image_id: str = ""
    built_from: list[str] = field(default_factory=list)
    seconds: float = 0.0
    built_at: str = ""


def provenance_path() -> Path:
    return paths.cache_dir() / "images" / "provenance.json"


def read_provenance() -> dict[str, dict[str, Any]]:
    try:
        provenance: dict[str, dict[str, Any]] = json.loads(provenance_path().read_text())
        return provenance
    except (OSError, ValueError):
        return {}


def _record(entry: Provenance) -> None:
    entry.image_id = image_id(entry.ref)
    entry.built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = read_provenance()
    data[entry.ref] = asdict(entry)
    provenance_path().parent.mkdir(parents=True, exist_ok=True)
    provenance_path().write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the Debian rootfs


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (our machines reach no other)."""
    for source in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if source.is_file():
            text = source.read_text()
            match = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(
                r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+\s+main", text, re.M
            )
            if match:
                return match.group(1)
    return "http://deb.debian.org/debian"


def build_debian(log: Log) -> None:
    """debootstrap's minimal bookworm with PACKAGES, imported as one layer."""
    ref = debian_ref()
    if shutil.which("debootstrap") is None:
        raise HarnessError(
            "building the kind images needs debootstrap (apt-get install debootstrap)"
        )
    mirror = apt_mirror()
    log(f"{ref}: debootstrap {SUITE} from {mirror} ({len(PACKAGES)} packages)")
    start = time.monotonic()
    work = paths.cache_dir() / "images" / "work"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=work) as tmp:
        root = Path(tmp) / "root"
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(root), mirror],
            "debootstrap", timeout=1800,
        )  # fmt: skip
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        archive = Path(tmp) / "rootfs.tar"
        run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."], "tar")
        docker(
            "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            str(archive), ref, what="docker import",
        )  # fmt: skip
    _record(
        Provenance(
            ref, built_from=[f"debootstrap --variant=minbase {SUITE} {mirror}", *PACKAGES],
            seconds=time.monotonic() - start,
        )
    )  # fmt: skip


# ---------------------------------------------------------------- docker build


def _build(
    ref: str, dockerfile: str, files: dict[str, Path], built_from: list[str], log: Log
) -> None:
    """docker build of a context made of files (context path -> source)."""
    log(f"{ref}: building")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pac-harness-image-") as tmp:
        context = Path(tmp)
        for name, source in files.items():
            target = context / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        _normalise_modes(context)
        (context / "Dockerfile").write_text(dockerfile)
        docker("build", "--quiet", "-t", ref, str(context), what=f"building {ref}")
    _record(Provenance(ref, built_from=built_from, seconds=time.monotonic() - start))


def _normalise_modes(context: Path) -> None:
    """Module-cache files are read-only; COPY would carry that into the image's /etc."""
    for path in [context, *context.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def kind_module_dir() -> Path:
    """kind's source in the Go module cache (its images/base/files are the node's config)."""
    return Path(tools.module_info("sigs.k8s.io/kind", kind_version())["Dir"])


BASE_DOCKERFILE = """\
FROM {debian}
COPY files/ /
COPY bin/ /usr/local/bin/
COPY sbin/runc /usr/local/sbin/runc
COPY cni/ /opt/cni/bin/
RUN chmod 755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /usr/local/sbin/runc /opt/cni/bin/* \\
    && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
    && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
       /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
       /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
    && ln -sf /usr/lib/systemd/systemd /sbin/init \\
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
    && systemctl mask systemd-binfmt.service \\
    && mkdir -p /etc/kubernetes/manifests \\
    && ctr oci spec \\
       | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {{"path": "/kind/bin/mount-product-files.sh"}}' \\
       | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \\
    && sed -i -e 's#{kind_pause}#{pause}#' \\
       -e 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' /etc/containerd/config.toml \\
    && containerd --version && runc --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
"""


def build_base(log: Log) -> None:
    """kind's images/base recipe, with our binaries in place of its git clones. One
    setting differs: containerd's restrict_oom_score_adj is on, because lowering a
    process's oom_score_adj needs CAP_SYS_RESOURCE, which our machines' capability
    bounding set (and so every node container) lacks; without it no pod sandbox starts."""
    files = {"files": kind_module_dir() / "images" / "base" / "files"}
    built_from = [f"sigs.k8s.io/kind@{kind_version()} images/base/files", debian_ref()]
    for tool in tools.TOOLS.values():
        if tool.group != "node" or not _in_base(tool.name):
            continue
        folder = "cni" if tool.name.startswith("cni-") else "sbin" if tool.name == "runc" else "bin"
        files[f"{folder}/{tool.binary or tool.name}"] = tools.require(tool.name)
        built_from.append(f"{tool.module}@v{tool.version}")
    dockerfile = BASE_DOCKERFILE.format(
        debian=debian_ref(), kind_pause=KIND_PAUSE, pause=component("pause").ref
    )
    _build(base_ref(), dockerfile, files, built_from, log)


# ---------------------------------------------------------------- component images


def pause_binary(directory: Path) -> Path:
    """Kubernetes' pause.c from the release's module, compiled static as upstream does."""
    release = Path(tools.module_info("k8s.io/kubernetes", f"v{K8S}")["Dir"])
    source = release / "build" / "pause" / "linux" / "pause.c"
    binary = directory / "pause"
    run(
        ["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{PAUSE_VERSION}-pac-harness",
         "-o", str(binary), str(source)],
        "compiling pause.c",
    )  # fmt: skip
    return binary


def replicator_binary(directory: Path) -> Path:
    go = shutil.which("go") or "go"
    binary = directory / "replicator"
    result = subprocess.run(
        [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "."],
        cwd=REPLICATOR_SOURCE, capture_output=True, text=True,
        env={**os.environ, "CGO_ENABLED": "0"},
    )  # fmt: skip
    if result.returncode != 0:
        raise HarnessError(f"building the replicator failed: {result.stderr.strip()[-300:]}")
    return binary


def build_component(item: Component, log: Log) -> None:
    with tempfile.TemporaryDirectory(prefix="pac-harness-bin-") as tmp:
        if item.binary == "pause":
            binary, source = pause_binary(Path(tmp)), f"k8s.io/kubernetes@v{K8S} build/pause"
        elif item.binary == "replicator":
            binary, source = replicator_binary(Path(tmp)), "harness/infra/images/replicator"
        else:
            tool = tools.get_tool(item.binary)
            binary, source = tools.require(item.binary), f"{tool.module}@v{tool.version}"
        lines = [f"FROM {debian_ref()}" if item.on_debian else "FROM scratch"]
        lines += [f"COPY bin {item.path}"]
        if not item.on_debian:
            lines += ["ENV PATH=/usr/local/bin:/usr/bin:/bin"]
        if item.entrypoint:
            lines += [f'ENTRYPOINT ["{item.path}"]']
        built_from = [source] + ([debian_ref()] if item.on_debian else [])
        _build(item.ref, "\n".join(lines) + "\n", {"bin": binary}, built_from, log)


# ---------------------------------------------------------------- the node image


def build_node(log: Log) -> None:
    """kind's node-image build: a container from the base image gets kubelet, kubeadm,
    kubectl and /kind/version, its containerd imports every component image, and the
    container is committed."""
    ref = node_ref()
    log(f"{ref}: building")
    start = time.monotonic()
    container = docker(
        "run", "-d", "--privileged", "--entrypoint", "sleep", base_ref(), "infinity",
        what="starting the node build container",
    ).strip()  # fmt: skip
    try:
        for name in ("kubelet", "kubeadm", "kubectl"):
            docker("cp", str(tools.require(name)), f"{container}:/usr/bin/{name}", what="docker cp")
        exec_ = ["exec", container]
        docker(*exec_, "sh", "-c", f"echo v{K8S} > /kind/version", what="writing /kind/version")
        docker(*exec_, "sh", "-c", "nohup containerd >/dev/null 2>&1 &", what="starting containerd")
        _wait_for_containerd(container)
        for preload in preloaded():
            docker(
                "exec", "-i", container, "ctr", "--namespace=k8s.io", "images", "import",
                "--label=io.cri-containerd.pinned=pinned", "--no-unpack", "-",
                what=f"importing {preload} into the node", stdin=docker_save(preload),
            )  # fmt: skip
        docker(*exec_, "pkill", "containerd", what="stopping containerd")
        time.sleep(2)
        docker(
            "commit", "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
            container, ref, what="docker commit",
        )  # fmt: skip
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True)
    built_from = [base_ref(), *preloaded()]
    built_from += [f"k8s.io/kubernetes/cmd/{n}@v{K8S}" for n in ("kubelet", "kubeadm", "kubectl")]
    _record(Provenance(ref, built_from=built_from, seconds=time.monotonic() - start))


def preloaded() -> list[str]:
    """What the node's containerd holds: every component, and the Debian image the
    NetworkPolicy probe's pods run (its one layer is kube-proxy's and kube-router's base)."""
    return [*(c.ref for c in components()), debian_ref()]


def docker_save(ref: str) -> bytes:
    return _docker("save", ref, what=f"docker save {ref}", timeout=600, stdin=None)


def _wait_for_containerd(container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            docker("exec", container, "ctr", "version", what="ctr version", timeout=20)
            return
        except TargetError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


# ---------------------------------------------------------------- entry point


def install(log: Log = print) -> str:
    """Build what is missing, in order; returns the node image's reference."""
    start = time.monotonic()
    for tool in tools.TOOLS.values():
        if tool.group == "node":
            tools.install(tool.name, log=log)
    steps: list[tuple[str, Callable[[Log], None]]] = [(debian_ref(), build_debian)]
    steps += [(c.ref, functools.partial(build_component, c)) for c in components()]
    steps += [(base_ref(), build_base), (node_ref(), build_node)]
    for ref, step in steps:
        if exists(ref):
            log(f"{ref}: found")
        else:
            step(log)
    log(f"kind images ready in {time.monotonic() - start:.0f} s: {node_ref()}")
    return node_ref()


def require_node_image() -> str:
    """The node image of today's recipe, or one line saying how to build it."""
    ref = node_ref()
    if not exists(ref):
        raise TargetError(
            f"the kind node image {ref} is not built; run: python -m harness tools install "
            "kind-images (about 20 minutes cold with its tools, README: kind target)"
        )
    return ref
