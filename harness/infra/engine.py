"""The container engine the kind target runs on: whether it can start privileged
containers, which kind's nodes are. Checked with a probe image made here from the pinned
OPA binary (`docker import`, no registry), so the answer is the engine's own."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from harness.errors import TargetError
from harness.infra import tools

PROBE_REPOSITORY = "pac-harness/probe"
FIX = (
    "kind's nodes are privileged containers; where this machine's capability bounding set "
    "lacks some capabilities (grep CapBnd /proc/self/status), register "
    ".ci/container-engine/pac-harness-runc as the engine's default runtime "
    "(README: container engine)"
)


def probe_image(engine: str) -> str:
    """A one-binary image (the pinned OPA), imported once into the engine."""
    from harness.infra.kind import run

    opa = tools.require("opa")
    tag = f"{PROBE_REPOSITORY}:opa-{tools.get_tool('opa').version}"
    try:
        run([engine, "image", "inspect", tag], f"{engine} image inspect", timeout=60)
        return tag
    except TargetError:
        pass
    with tempfile.TemporaryDirectory(prefix="pac-harness-probe-") as tmp:
        archive = Path(tmp) / "probe.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(opa, arcname="opa")
        run([engine, "import", str(archive), tag], f"{engine} import", timeout=300)
    return tag


def privileged_problem(engine: str) -> str | None:
    """None when a privileged container starts on engine, else one line: why and how
    to fix it."""
    from harness.infra.kind import run

    try:
        image = probe_image(engine)
        run(
            [engine, "run", "--rm", "--privileged", image, "/opa", "version"],
            f"{engine} run --privileged",
            timeout=120,
        )
    except TargetError as exc:
        return f"privileged containers fail on the {engine} engine ({exc}); {FIX}"
    return None
