"""Pinned external tools (OPA, etcd, kube-apiserver): found on PATH or in the cache,
else downloaded and checked against a pinned sha256, else built from source with the Go
toolchain into the cache (kube-mgmt is not served by the Go module proxy here).

The cache lives outside any checkout (PAC_HARNESS_CACHE, default the per-user cache
directory), so every clone on a machine reuses one build.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError

Log = Callable[[str], None]


@dataclass(frozen=True)
class Tool:
    name: str
    version: str
    module: str  # go install path of the main package
    version_args: tuple[str, ...]
    version_pattern: str  # regex whose first group is the version the binary reports
    download_url: str | None = None  # format fields: version, os, arch
    # Official sha256 per "os/arch"; a platform without one is never downloaded.
    sha256: dict[str, str] = field(default_factory=dict)
    ldflags: str = ""
    # Modules with replace directives cannot be `go install`ed: build them from a
    # throw-away wrapper module that requires wrapper_module at module_version.
    wrapper_module: str | None = None
    module_version: str | None = None
    # Replace every k8s.io staging module (listed as => ./staging/... in the required
    # module's go.mod) with its published v0.<minor>.<patch>.
    staging_replaces: bool = False
    # Carry the required module's own module-to-module replaces into the wrapper (a go
    # install ignores them; kyverno replaces k8s.io/pod-security-admission with its fork).
    copy_replaces: bool = False
    # The file the build produces, where it differs from the tool's name (CNI plugins).
    binary: str | None = None
    # runc needs cgo (its nsenter is C) and libseccomp; everything else builds with CGO off.
    cgo: bool = False
    tags: str = ""
    # "core" tools serve every target; "node" tools only go into the kind images; "peer"
    # tools are the other policy engines and scanners `harness peers` compares with.
    group: str = "core"
    # Extra environment for the Go build (trivy needs GOEXPERIMENT=jsonv2 on Go 1.26).
    go_env: tuple[tuple[str, str], ...] = ()
    # A tool published on PyPI instead: installed into its own venv in the cache (its
    # dependencies stay out of ours), the binary linked where cache_path points.
    pypi: str | None = None

    @property
    def cache_path(self) -> Path:
        return paths.cache_dir() / "tools" / self.name / self.version / (self.binary or self.name)

    def platform_key(self) -> str:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        return f"{platform.system().lower()}/{arch}"


TOOLS: dict[str, Tool] = {
    "opa": Tool(
        name="opa",
        version="1.22.3",
        module="github.com/open-policy-agent/opa",
        version_args=("version",),
        version_pattern=r"^Version:\s*v?(\S+)",
        download_url="https://openpolicyagent.org/downloads/v{version}/opa_{os}_{arch}_static",
        # No checksum pinned yet: we could not obtain the published one from a machine
        # without internet, and an unverified binary is never run. Add "linux/amd64": "<sha>"
        # to enable the download path.
        sha256={},
    ),
}

TOOLS["etcd"] = Tool(
    name="etcd",
    version="3.6.16",
    module="go.etcd.io/etcd/server/v3",
    version_args=("--version",),
    version_pattern=r"^etcd Version:\s*(\S+)",
    wrapper_module="go.etcd.io/etcd/server/v3",
    module_version="v3.6.16",
)
_K8S = "1.37.2"


def _k8s_version_flags() -> str:
    """Without these, a source build reports v0.0.0-master and version-skew checks fail."""
    parts = [
        "-s -w",
        f"-X k8s.io/component-base/version.gitVersion=v{_K8S}",
        f"-X k8s.io/component-base/version.gitMajor={_K8S.split('.')[0]}",
        f"-X k8s.io/component-base/version.gitMinor={_K8S.split('.')[1]}",
        f"-X k8s.io/client-go/pkg/version.gitVersion=v{_K8S}",
        "-X k8s.io/component-base/version.gitTreeState=clean",
    ]
    return " ".join(parts)


def _kubernetes(
    name: str, version_args: tuple[str, ...], pattern: str, group: str = "node"
) -> Tool:
    """A Kubernetes binary of the pinned release, built through a wrapper module that
    replaces every staging module with its published version."""
    return Tool(
        name=name,
        version=_K8S,
        module=f"k8s.io/kubernetes/cmd/{name}",
        version_args=version_args,
        version_pattern=pattern,
        wrapper_module="k8s.io/kubernetes",
        module_version=f"v{_K8S}",
        staging_replaces=True,
        ldflags=_k8s_version_flags(),
        group=group,
    )


TOOLS["kube-apiserver"] = _kubernetes(
    "kube-apiserver", ("--version",), r"^Kubernetes v(\S+)", group="core"
)

# For the kind target (which also needs a container engine and the kind images).
TOOLS["kind"] = Tool(
    name="kind",
    version="0.33.0",
    module="sigs.k8s.io/kind",
    version_args=("version",),
    version_pattern=r"^kind v(\S+)",
)


# The kind node image's contents, each built from the Go module proxy (kind's own base
# image clones the same projects from git). Versions follow kind v0.33.0's base image
# where the proxy serves them (crictl v1.36.0 is not served: v1.37.0).
for _name, _args, _pattern in (
    ("kubelet", ("--version",), r"^Kubernetes v(\S+)"),
    ("kubeadm", ("version", "-o", "short"), r"^v(\S+)"),
    ("kubectl", ("version", "--client"), r"^Client Version: v(\S+)"),
    ("kube-controller-manager", ("--version",), r"^Kubernetes v(\S+)"),
    ("kube-scheduler", ("--version",), r"^Kubernetes v(\S+)"),
    ("kube-proxy", ("--version",), r"^Kubernetes v(\S+)"),
):
    TOOLS[_name] = _kubernetes(_name, _args, _pattern)

_CONTAINERD = "2.3.4"
for _name, _args, _pattern in (
    ("containerd", ("--version",), r"^containerd \S+ v(\S+)"),
    ("containerd-shim-runc-v2", ("-v",), r"Version:\s+v(\S+)"),
    ("ctr", ("--version",), r"^ctr \S+ v(\S+)"),
):
    TOOLS[_name] = Tool(
        name=_name,
        version=_CONTAINERD,
        module=f"github.com/containerd/containerd/v2/cmd/{_name}",
        version_args=_args,
        version_pattern=_pattern,
        tags="no_aufs no_zfs no_btrfs no_devmapper",
        ldflags=f"-s -w -X github.com/containerd/containerd/v2/version.Version=v{_CONTAINERD}",
        group="node",
    )
TOOLS["runc"] = Tool(
    name="runc",
    version="1.4.3",
    module="github.com/opencontainers/runc",
    version_args=("--version",),
    version_pattern=r"^runc version (\S+)",
    cgo=True,  # needs gcc, libseccomp-dev and pkg-config (Debian packages)
    tags="seccomp urfave_cli_no_docs",
    ldflags="-s -w -X main.version=1.4.3",
    group="node",
)
TOOLS["crictl"] = Tool(
    name="crictl",
    version="1.37.0",
    module="sigs.k8s.io/cri-tools/cmd/crictl",
    version_args=("--version",),
    version_pattern=r"^crictl version v(\S+)",
    ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v1.37.0",
    group="node",
)
_CNI_PLUGINS = "1.9.1"
for _path in ("ipam/host-local", "main/loopback", "main/ptp", "main/bridge", "meta/portmap"):
    _binary = _path.split("/")[1]
    TOOLS[f"cni-{_binary}"] = Tool(
        name=f"cni-{_binary}",
        version=_CNI_PLUGINS,
        module=f"github.com/containernetworking/plugins/plugins/{_path}",
        binary=_binary,
        version_args=(),  # with no CNI_COMMAND a plugin prints its name and version
        version_pattern=r"plugin v(\S+)",
        ldflags="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion."
        f"BuildVersion=v{_CNI_PLUGINS}",
        group="node",
    )
TOOLS["coredns"] = Tool(
    name="coredns",
    version="1.14.6",  # the version kubeadm v1.37 deploys
    module="github.com/coredns/coredns",
    version_args=("-version",),
    version_pattern=r"^CoreDNS-(\S+)",
    ldflags="-s -w",
    group="node",
)
# The NetworkPolicy-enforcing CNI we can build (Calico cannot be built from the proxy).
# v2.1.0 is the only version the proxy serves; it runs only inside throw-away clusters.
TOOLS["kube-router"] = Tool(
    name="kube-router",
    version="2.1.0",
    module="github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
    version_args=("--version",),
    version_pattern=r"version v(\S+?),",
    ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v2.1.0",
    group="node",
)

# Peers (harness peers): published rule sets as they ship, pinned.
TOOLS["kube-score"] = Tool(
    name="kube-score",
    version="1.20.0",
    module="github.com/zegl/kube-score/cmd/kube-score",
    version_args=("version",),
    version_pattern=r"kube-score version: v?([0-9][^\s,]*)",
    ldflags="-s -w -X main.version=1.20.0",
    group="peer",
)
TOOLS["trivy"] = Tool(
    name="trivy",
    version="0.74.0",
    module="github.com/aquasecurity/trivy/cmd/trivy",
    version_args=("--version",),
    version_pattern=r"^Version: (\S+)",
    ldflags="-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=0.74.0",
    go_env=(("GOEXPERIMENT", "jsonv2"),),  # trivy imports encoding/json/v2
    group="peer",
)
# kyverno's go.mod replaces k8s.io/pod-security-admission with its own fork, which a
# go install refuses: built through a wrapper module carrying that replace.
TOOLS["kyverno"] = Tool(
    name="kyverno",
    version="1.19.1",
    module="github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno",
    wrapper_module="github.com/kyverno/kyverno",
    module_version="v1.19.1",
    copy_replaces=True,
    binary="kubectl-kyverno",
    version_args=("version",),
    version_pattern=r"Version: v?(\d+\.\d+\.\d+)",
    ldflags="-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=v1.19.1",
    group="peer",
)
TOOLS["checkov"] = Tool(
    name="checkov",
    version="3.3.30",
    module="",
    version_args=("--version",),
    version_pattern=r"^(\d+\.\d+\.\d+)",
    pypi="checkov",
    group="peer",
)

DOWNLOAD_TIMEOUT_S = 10


@dataclass(frozen=True)
class Resolved:
    tool: Tool
    path: Path
    source: str  # path | cache | download | source-build
    seconds: float


def get_tool(name: str) -> Tool:
    try:
        return TOOLS[name]
    except KeyError:
        raise HarnessError(f"unknown tool {name!r} (known: {', '.join(TOOLS)})") from None


def reported_version(tool: Tool, binary: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(binary), *tool.version_args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(tool.version_pattern, out.stdout + out.stderr, re.MULTILINE)
    return match.group(1) if match else None


def locate(tool: Tool) -> Resolved | None:
    """An installed binary of exactly the pinned version: on PATH first, then the cache."""
    candidates = []
    on_path = shutil.which(tool.name)
    if on_path:
        candidates.append((Path(on_path), "path"))
    candidates.append((tool.cache_path, "cache"))
    for binary, source in candidates:
        if binary.is_file() and reported_version(tool, binary) == tool.version:
            return Resolved(tool, binary, source, 0.0)
    return None


def require(name: str) -> Path:
    """The pinned binary, or a one-line error that says how to install it."""
    tool = get_tool(name)
    found = locate(tool)
    if found is None:
        raise HarnessError(
            f"{name} {tool.version} is not installed; run: python -m harness tools install {name}"
        )
    return found.path


def install(name: str, log: Log = print) -> Resolved:
    tool = get_tool(name)
    start = time.monotonic()
    found = locate(tool)
    if found is not None:
        log(f"{name} {tool.version}: found at {found.path} ({found.source})")
        return found
    if download(tool, tool.cache_path, log):
        source = "download"
    else:
        build_from_source(tool, tool.cache_path, log)
        source = "pypi" if tool.pypi else "source-build"
    if reported_version(tool, tool.cache_path) != tool.version:
        raise HarnessError(f"{tool.cache_path}: does not report version {tool.version}")
    elapsed = time.monotonic() - start
    log(f"{name} {tool.version}: installed at {tool.cache_path} ({source}, {elapsed:.1f} s)")
    return Resolved(tool, tool.cache_path, source, elapsed)


def download(tool: Tool, dest: Path, log: Log) -> bool:
    """Fetch the official release if its checksum is pinned; False means fall back."""
    key = tool.platform_key()
    expected = tool.sha256.get(key)
    if not tool.download_url or not expected:
        log(f"{tool.name}: no pinned sha256 for {key}; skipping download")
        return False
    os_name, arch = key.split("/")
    url = tool.download_url.format(version=tool.version, os=os_name, arch=arch)
    import urllib.error  # here, not at the top: node-check imports this module at boot
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        log(f"{tool.name}: download from {url} failed ({_reason(exc)}); building from source")
        return False
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        log(f"{tool.name}: checksum mismatch for {url} (got {actual}); building from source")
        return False
    _install_file(payload, dest)
    return True


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split())


def _install_file(payload: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".partial")
    tmp.write_bytes(payload)
    tmp.chmod(0o755)
    tmp.replace(dest)


def build_from_source(tool: Tool, dest: Path, log: Log) -> None:
    if tool.pypi:
        install_from_pypi(tool, dest, log)
        return
    go = shutil.which("go")
    if go is None:
        raise HarnessError(f"{tool.name}: cannot build from source: the go command is not on PATH")
    if tool.wrapper_module:
        build_with_wrapper(go, tool, dest, log)
        return
    log(f"{tool.name}: building {tool.module}@v{tool.version} from source ({_cgo_word(tool)})")
    with tempfile.TemporaryDirectory(prefix=f"pac-harness-{tool.name}-") as gobin:
        args = ["install", *_build_flags(tool), f"{tool.module}@v{tool.version}"]
        _go(go, args, cwd=None, what=tool.name, env={"GOBIN": gobin, **_cgo_env(tool)})
        built = Path(gobin) / tool.module.rsplit("/", 1)[-1]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), dest)


def install_from_pypi(tool: Tool, dest: Path, log: Log) -> None:
    """pip install <pypi>==<version> into a venv beside dest, and link its entry point."""
    venv = dest.parent / "venv"
    log(f"{tool.name}: installing {tool.pypi}=={tool.version} from PyPI into {venv}")
    for args in (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"{tool.pypi}=={tool.version}",
        ],
    ):
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-2:])
            raise HarnessError(f"{tool.name}: {args[2]} failed: {tail}")
    dest.unlink(missing_ok=True)
    dest.symlink_to(venv / "bin" / tool.name)


def _build_flags(tool: Tool) -> list[str]:
    flags = ["-trimpath"]
    if tool.tags:
        flags += ["-tags", tool.tags]
    if tool.ldflags:
        flags += ["-ldflags", tool.ldflags]
    return flags


def _cgo_env(tool: Tool) -> dict[str, str]:
    return {**dict(tool.go_env), **({"CGO_ENABLED": "1"} if tool.cgo else {})}


def _cgo_word(tool: Tool) -> str:
    return "CGO on" if tool.cgo else "CGO off"


def module_info(module: str, version: str) -> dict[str, Any]:
    """`go mod download -json` of module@version: its Dir, GoMod and friends in the
    module cache (downloaded through the proxy if not there yet)."""
    go = shutil.which("go")
    if go is None:
        raise HarnessError(f"{module}@{version}: the go command is not on PATH")
    out = _go(go, ["mod", "download", "-json", f"{module}@{version}"], cwd=None, what=module)
    info: dict[str, Any] = json.loads(out)
    return info


def staging_replaces(module: str, version: str) -> list[str]:
    """`replace` lines for every staging module the release's go.mod points at ./staging."""
    gomod = Path(module_info(module, version)["GoMod"]).read_text()
    minor_patch = version.lstrip("v").split(".", 1)[1]
    names = re.findall(r"^\s*(k8s\.io/[\w.\-/]+)\s+=>\s+\./staging/", gomod, re.MULTILINE)
    if not names:
        raise HarnessError(f"{module}@{version}: no staging modules found in its go.mod")
    return [f"replace {name} => {name} v0.{minor_patch}" for name in sorted(set(names))]


def module_replaces(module: str, version: str) -> list[str]:
    """The release's `replace old => new version` lines (single or in a block); replaces
    that point at local directories cannot be carried and are left out."""
    gomod = Path(module_info(module, version)["GoMod"]).read_text()
    pattern = r"^\s*(?:replace\s+)?([\w.\-/]+)(?:\s+v\S+)?\s+=>\s+([\w.\-/]+)\s+(v\S+)\s*$"
    found = re.findall(pattern, gomod, re.MULTILINE)
    return [f"replace {old} => {new} {ver}" for old, new, ver in found if not new.startswith(".")]


def build_with_wrapper(go: str, tool: Tool, dest: Path, log: Log) -> None:
    wrapper, version = tool.wrapper_module, tool.module_version
    if wrapper is None or version is None:
        raise HarnessError(f"{tool.name}: a wrapper build needs wrapper_module and module_version")
    log(
        f"{tool.name}: building {tool.module} from {wrapper}@{version} "
        f"through a wrapper module ({_cgo_word(tool)})"
    )
    with tempfile.TemporaryDirectory(prefix=f"pac-harness-{tool.name}-wrap-") as tmp:
        lines = [
            f"module pacharness.local/wrap/{tool.name}",
            "",
            "go 1.26.0",
            "",
            f"require {wrapper} {version}",
        ]
        if tool.staging_replaces:
            lines += ["", *staging_replaces(wrapper, version)]
        if tool.copy_replaces:
            lines += ["", *module_replaces(wrapper, version)]
        Path(tmp, "go.mod").write_text("\n".join(lines) + "\n")
        Path(tmp, "tools.go").write_text(
            f'//go:build tools\n\npackage tools\n\nimport _ "{tool.module}"\n'
        )
        _go(go, ["mod", "tidy"], cwd=tmp, what=tool.name)
        out = Path(tmp) / tool.name
        args = ["build", *_build_flags(tool), "-o", str(out), tool.module]
        _go(go, args, cwd=tmp, what=tool.name, env=_cgo_env(tool))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), dest)


def _go(
    go: str, args: list[str], cwd: str | None, what: str, env: dict[str, str] | None = None
) -> str:
    """Run the go command (CGO off unless env says otherwise); a failure is one line with
    go's last words."""
    full_env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", **(env or {})}
    result = subprocess.run([go, *args], cwd=cwd, env=full_env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = " ".join(result.stderr.strip().splitlines()[-3:])
        raise HarnessError(f"{what}: go {args[0]} failed: {tail}")
    return result.stdout


def status() -> list[dict[str, str]]:
    rows = []
    for tool in TOOLS.values():
        found = locate(tool)
        rows.append(
            {
                "tool": tool.name,
                "version": tool.version,
                "status": found.source if found else "missing",
                "path": str(found.path) if found else str(tool.cache_path),
            }
        )
    return rows


def go_program(
    source: Path,
    name: str,
    log: Log = print,
    patches: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A Go program kept in this repository (an oracle's driver around an upstream
    library), built into the cache once per version of its sources: go.mod and go.sum pin
    what it links, the module proxy serves it.

    patches adds files to a dependency's packages (module -> {path in the module: file in
    source}), for a driver that must call an upstream function the module does not
    export: the module is copied beside the driver with the files added and go.mod
    replaced to the copy (the go command refuses overlays inside the module cache)."""
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        if path.is_file():
            digest.update(f"{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    dest = paths.cache_dir() / "tools" / name / digest.hexdigest()[:12] / name
    if dest.exists():
        return dest
    go = shutil.which("go")
    if go is None:
        raise HarnessError(f"{name}: building it needs the Go toolchain (go on PATH)")
    log(f"building {name} from {source} (once per change of its sources)")
    with tempfile.TemporaryDirectory(prefix=f"pac-harness-{name}-") as tmp:
        work = Path(tmp) / "src"
        shutil.copytree(source, work)
        for module, files in (patches or {}).items():
            _patch_module(go, work, module, {p: source / f for p, f in files.items()}, name)
        out = Path(tmp) / name
        _go(go, ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out), "."], str(work), name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), dest)
    return dest


def _patch_module(go: str, work: Path, module: str, files: dict[str, Path], what: str) -> None:
    """Copy module (the version work/go.mod requires) into work, add files, and point
    go.mod at the copy."""
    _go(go, ["mod", "download", module], str(work), what)
    origin = Path(_go(go, ["list", "-m", "-f", "{{.Dir}}", module], str(work), what).strip())
    copy = work / "_patched" / module.replace("/", "_")
    shutil.copytree(origin, copy)
    for path in copy.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    for inside, file in files.items():
        shutil.copyfile(file, copy / inside)
    _go(go, ["mod", "edit", f"-replace={module}=./{copy.relative_to(work)}"], str(work), what)
