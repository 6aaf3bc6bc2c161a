"""Our admission controls as ValidatingAdmissionPolicies (policies/vap/): each control's
CEL as written in its file, the variables every policy shares, and the controls without
a policy with the reason. The vap target assembles and registers them; reports read
which controls CEL could not decide."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.errors import HarnessError
from harness.model import yamlfile


def vap_dir() -> Path:
    return paths.policies_dir() / "vap"


@dataclass(frozen=True)
class VapPolicy:
    """One control's CEL: its validations and own variables, as written in its file."""

    control: str
    package: str
    applies_to: str  # "pods" or "rbac"
    variables: list[dict[str, str]]
    validations: list[dict[str, str]]


@dataclass(frozen=True)
class VapLibrary:
    policies: dict[str, VapPolicy]  # by control id
    shared: dict[str, list[dict[str, str]]]  # variables every pods/rbac policy gets
    cannot: dict[str, str]  # control id -> why CEL cannot decide it
    unwritten: dict[str, str]  # control id -> what a policy would have to do


def load_library(root: Path | None = None) -> VapLibrary:
    """Every policy file, the shared variables and the controls without a policy; an
    error names the file."""
    root = root or vap_dir()
    shared = yamlfile.read_yaml(root / "lib.yaml", "missing (the shared CEL variables)")
    unexpressed = yamlfile.read_yaml(root / "unexpressed.yaml", "missing") or {}
    policies = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name in ("lib.yaml", "unexpressed.yaml"):
            continue
        doc = yamlfile.read_yaml(path, "missing")
        if not isinstance(doc, dict) or not doc.get("control") or not doc.get("validations"):
            raise HarnessError(f"{path}: needs `control` and a list of `validations`")
        if doc.get("applies_to") not in ("pods", "rbac"):
            raise HarnessError(f"{path}: applies_to must be pods or rbac")
        policies[doc["control"]] = VapPolicy(
            doc["control"], path.stem, doc["applies_to"], doc.get("variables") or [],
            doc["validations"],
        )  # fmt: skip
    return VapLibrary(
        policies, shared, unexpressed.get("cannot") or {}, unexpressed.get("unwritten") or {}
    )


def control_of(package: str) -> str:
    """cis_5_2_2 -> CIS-5.2.2: the control id a policy package is named after."""
    return package.upper().replace("_", "-", 1).replace("_", ".")
