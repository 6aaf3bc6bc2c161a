"""Our admission controls as ValidatingAdmissionPolicies (policies/vap/): each control's
CEL as written in its file, the variables every policy shares, and the controls without
a policy with the reason. The vap target assembles and registers them; reports read
which controls CEL could not decide."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import paths
from harness.errors import HarnessError
from harness.model import yamlfile
from harness.model.manifests import POD_BEARING, RBAC, SECRETS, KindInfo


def vap_dir() -> Path:
    return paths.policies_dir() / "vap"


# What a policy's validations can be asked about, and the kinds that means: pods (every
# pod-bearing kind), RBAC objects or Secrets.
APPLIES_TO: dict[str, dict[str, KindInfo]] = {
    "pods": POD_BEARING,
    "rbac": RBAC,
    "secrets": SECRETS,
}


@dataclass(frozen=True)
class VapPolicy:
    """One control's CEL: its validations and own variables, as written in its file."""

    control: str
    package: str
    applies_to: str  # one of APPLIES_TO
    variables: list[dict[str, str]]
    validations: list[dict[str, str]]


@dataclass(frozen=True)
class VapLibrary:
    policies: dict[str, VapPolicy]  # by control id
    shared: dict[str, list[dict[str, str]]]  # variables every pods/rbac policy gets
    cannot: dict[str, str]  # control id -> why CEL cannot decide it
    unwritten: dict[str, str]  # control id -> what a policy would have to do
    partly: dict[str, str] = field(default_factory=dict)  # control id -> what its policy
    # cannot decide: the objects of kinds outside its applies_to


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
        if doc.get("applies_to") not in APPLIES_TO:
            raise HarnessError(f"{path}: applies_to must be one of {', '.join(APPLIES_TO)}")
        policies[doc["control"]] = VapPolicy(
            doc["control"], path.stem, doc["applies_to"], doc.get("variables") or [],
            doc["validations"],
        )  # fmt: skip
    return VapLibrary(
        policies,
        shared,
        unexpressed.get("cannot") or {},
        unexpressed.get("unwritten") or {},
        unexpressed.get("partly") or {},
    )


# What a CLI can judge offline, with no API server: pods and RBAC objects. Not Secrets:
# CIS-5.4.2 asks who writes a Secret (request.userInfo), and `kyverno apply` judges an
# object with no requester.
JUDGED_OFFLINE = ("pods", "rbac")


def policy_name(package: str) -> str:
    """cis_5_2_2 -> pac-harness-cis-5-2-2: the object name of a control's policy (a
    ValidatingAdmissionPolicy, its binding, or the Kyverno policy made from it)."""
    return "pac-harness-" + package.replace("_", "-")


def control_of(package: str) -> str:
    """cis_5_2_2 -> CIS-5.2.2: the control id a policy package is named after."""
    return package.upper().replace("_", "-", 1).replace("_", ".")


def bootstrap_objects(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Kubernetes' own RBAC objects by kind and name, as lib.rbac compares them: the
    JSON document policies/lib/rbac_defaults.rego is generated around."""
    path = (root or paths.policies_dir()) / "lib" / "rbac_defaults.rego"
    text = path.read_text(encoding="utf-8")
    marker = "objects := "
    if marker not in text:
        raise HarnessError(
            f"{path}: no `objects := ` document (python -m harness rbac-defaults --write)"
        )
    document: dict[str, dict[str, Any]]
    document, _ = json.JSONDecoder().raw_decode(text.split(marker, 1)[1])
    return document


def cel_literal(value: Any) -> str:
    """value as a CEL literal; every map value is wrapped in dyn(), so maps whose values
    differ in type (a binding's roleRef and subjects) type-check."""
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)}: dyn({cel_literal(v)})" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(cel_literal(v) for v in value) + "]"
    return json.dumps(value)


def glob_pattern(glob: str) -> str:
    """An anchored RE2 pattern for one of the allowlist's globs, as OPA's glob.match reads
    it with its default delimiter ".": "*" stays within a dot-separated segment, "**"
    crosses them, "?" is one character but a dot."""
    if any(ch in glob for ch in "[]{}\\"):
        raise HarnessError(
            f"rbac_allowlist pattern {glob!r}: character classes and alternatives have no "
            "CEL translation here; use * and ? only"
        )
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        ch = glob[i]
        out.append("[^.]*" if ch == "*" else "[^.]" if ch == "?" else re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"
