"""The parts of a CEL admission policy made from a control's policies/vap file and the
admin config: its variables, its match conditions, the resources it matches. The vap
target binds them as ValidatingAdmissionPolicies, the Kyverno peer as ValidatingPolicies;
both read them from here."""

from __future__ import annotations

import json
from typing import Any

from harness.model.manifests import KindInfo, resources_by_group
from harness.model.vap import (
    APPLIES_TO,
    VapLibrary,
    VapPolicy,
    bootstrap_objects,
    cel_literal,
    glob_pattern,
)


def config_variables(config: dict[str, Any], prefix: str = "cfg") -> list[dict[str, str]]:
    """The admin config's lists (of names, or of flat name maps) as CEL list literals,
    named by their path: trusted_registries is cfgTrustedRegistries, rbac_allowlist's
    cluster_admin_subjects is cfgRbacAllowlistClusterAdminSubjects. A policy reads the
    same values the Rego policies get as data.config."""
    out = []
    for key, value in sorted(config.items()):
        name = prefix + "".join(part.capitalize() for part in key.split("_"))
        if isinstance(value, dict) and key != "exemptions":
            out += config_variables(value, name)
        elif isinstance(value, list) and all(_flat(v) for v in value):
            out.append({"name": name, "expression": json.dumps(value)})
    return out


def _flat(value: Any) -> bool:
    """A string, or a map of strings: what a CEL list literal holds with one type."""
    if isinstance(value, dict):
        return all(isinstance(v, str) for v in value.values())
    return isinstance(value, str)


def policy_variables(
    policy: VapPolicy, library: VapLibrary, config: dict[str, Any]
) -> list[dict[str, str]]:
    """A policy's variables in the order CEL needs them (each may use those before it):
    the admin config, Kubernetes' own RBAC objects, the shared ones, its own."""
    return (
        config_variables(config)
        + (rbac_variables(config) if policy.applies_to == "rbac" else [])
        + (library.shared.get(policy.applies_to) or [])
        + policy.variables
    )


def rbac_variables(config: dict[str, Any]) -> list[dict[str, str]]:
    """What the RBAC policies compare with: Kubernetes' own objects (lib.rbac_defaults)
    and the allowlisted role names' globs as patterns."""
    globs = (config.get("rbac_allowlist") or {}).get("roles") or []
    return [
        {"name": "bootstrap", "expression": cel_literal(bootstrap_objects())},
        {
            "name": "cfgRbacAllowlistRolesPatterns",
            "expression": json.dumps([glob_pattern(g) for g in globs]),
        },
    ]


def exemption_conditions(control: str, config: dict[str, Any]) -> list[dict[str, str]]:
    """The namespaces the admin exempted from control, as a match condition (none when
    there are none)."""
    exempt = (config.get("exemptions") or {}).get(control) or []
    if not exempt:
        return []
    return [{"name": "not-exempt", "expression": f"!(request.namespace in {json.dumps(exempt)})"}]


def reviewed_kinds(applies_to: str) -> dict[str, KindInfo]:
    return APPLIES_TO[applies_to]


def resource_rules(applies_to: str) -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": [group],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": resources,
        }
        for group, resources in resources_by_group(reviewed_kinds(applies_to)).items()
    ]
