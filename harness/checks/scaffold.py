"""A new admission control from one command (`harness new-control`): its catalog entry,
Rego package, fixture folder, CEL policy and generated Rego tests, with a working example
check, so that the control is enforced, replayed, tabled and mutation-tested at once and
a contributor replaces the example rather than starting from nothing.

It belongs here rather than in harness.model, which is data only (it loads and checks
inputs and writes nothing): it writes into policies/ and scenarios/, and it renders the
control's policy_test.rego with harness.checks.regotests, the code `policy-test --sync`
runs, which the model layer may not import. What it wrote is loaded back (catalog,
fixture suite, CEL policy) before it is kept. The command only parses and prints.

Only admission controls of pods and pod templates, the common case: a node or audit
control, or one decided at two points (catalog also_at), is written by hand.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness import paths
from harness.checks.regotests import render_tests, test_file
from harness.errors import HarnessError
from harness.model.catalog import ID_PATTERN, id_sort_key, load_catalog, package_name
from harness.model.fixtures import load_fixtures
from harness.model.vap import load_library, vap_dir

# The example check: a pod, or a workload's pod template, with this label is denied.
EXAMPLE_LABEL = "pac-harness.io/example"
EXAMPLE_REASON = f"pod label {EXAMPLE_LABEL} must not be deny"

_POLICY = """package controls.<pkg>

import data.lib.k8s

# Scaffolded by `python -m harness new-control`. `example` is a working check, to be
# replaced by the control's own: it denies a pod, or a workload's pod template, that is
# labelled pac-harness.io/example: deny. A finding is [what it is about, what is wrong],
# as lib.checks makes them (k8s.whole_object, or a container of k8s.containers). Keep the
# deny rule's write guard, exemption lookup and id prefix (README: adding a control).
deny contains concat("", ["[<ID>] ", v[0].label, v[1]]) if {
\tk8s.pod_write
\tnot k8s.exempt_controls["<ID>"]
\tsome v in example
}

example contains [k8s.whole_object, "<reason>"] if {
\tk8s.template_labels["<label>"] == "deny"
}
"""

_VAP = """control: <ID>
applies_to: pods
# Scaffolded by `python -m harness new-control`: the example check of its policy.rego in
# CEL (a pod, or a workload's pod template, labelled pac-harness.io/example: deny is
# refused). Replace it with the control's check, or delete this file and give the reason
# in unexpressed.yaml.
variables:
  - name: labels
    expression: "has(variables.podMeta.labels) ? variables.podMeta.labels : {}"
validations:
  - expression: "!('<label>' in variables.labels) || variables.labels['<label>'] != 'deny'"
    message: <reason>
"""

_SUITE_HEADER = """# Cases of this fixture folder: expectation from the folder (allow/ or deny/),
# what each case covers, and the admission operation when it is not CREATE.
"""

_CONTAINER = """- name: app
  image: registry.k8s.io/pause:3.10
"""


@dataclass(frozen=True)
class _Case:
    file: str  # allow/... or deny/...
    kind: str  # Pod, Deployment or CronJob
    label: str | None  # the example label's value, None: no label
    note: str
    covers: str


_CASES = (
    _Case("allow/unlabelled.yaml", "Pod", None, "no example label", "absent"),
    _Case("allow/labelled-allow.yaml", "Pod", "allow", "the example label, not deny", "explicit"),
    _Case("deny/labelled-deny.yaml", "Pod", "deny", "a pod labelled deny", "explicit"),
    _Case(
        "deny/deployment-labelled-deny.yaml",
        "Deployment",
        "deny",
        "a Deployment whose pod template is labelled deny",
        "template",
    ),
    _Case(
        "deny/cronjob-labelled-deny.yaml",
        "CronJob",
        "deny",
        "a CronJob whose pod template is labelled deny",
        "template",
    ),
)


@dataclass(frozen=True)
class Scaffold:
    control_id: str
    package: str
    created: list[Path]  # relative to the project root, the catalog first


def scaffold(control_id: str, title: str, guideline: str) -> Scaffold:
    """Write the control's files under paths.project_root(); a one-line HarnessError,
    and nothing written, for a malformed or existing id or a file that exists. The files
    are removed again (and the catalog restored) when the result does not load."""
    cid = control_id.strip().upper()
    if not ID_PATTERN.match(cid):
        raise HarnessError(
            f"{control_id!r} is not a control id: NSA-<n>[.<n>...] or CIS-<n>[.<n>...], "
            "such as NSA-9.9"
        )
    title, guideline = " ".join(title.split()), " ".join(guideline.split())
    if not title or not guideline:
        raise HarnessError(f"{cid}: --title and --guideline must not be empty")
    catalog = load_catalog()
    if cid in {c.id for c in catalog}:
        raise HarnessError(f"{cid} is already in {catalog.source}")
    library = load_library()
    if cid in {**library.cannot, **library.unwritten, **library.partly}:
        raise HarnessError(f"{cid} is already listed in {vap_dir() / 'unexpressed.yaml'}")
    package = package_name(cid)
    policy_dir = paths.policies_dir() / "controls" / package
    fixture_dir = paths.fixtures_dir() / cid
    vap_file = vap_dir() / f"{package}.yaml"
    for path in (policy_dir, fixture_dir, vap_file):
        if path.exists():
            raise HarnessError(f"{path} already exists; new-control writes only new files")

    catalog_file = catalog.source
    catalog_text = catalog_file.read_text(encoding="utf-8")
    written: list[Path] = []
    try:
        catalog_file.write_text(
            _insert_entry(catalog_text, _entry(cid, package, title, guideline), cid),
            encoding="utf-8",
        )
        written.append(_write(policy_dir / "policy.rego", _fill(_POLICY, cid, package)))
        for case in _CASES:
            written.append(_write(fixture_dir / case.file, _manifest(case)))
        written.append(_write(fixture_dir / "suite.yaml", _suite()))
        written.append(_write(vap_file, _fill(_VAP, cid, package)))
        control = load_catalog().get(cid)  # the catalog and the new files validate
        fixtures = load_fixtures([control]).by_control[cid]
        load_library()
        written.append(_write(test_file(control), render_tests(control, fixtures)))
    except BaseException:
        catalog_file.write_text(catalog_text, encoding="utf-8")
        for path in (policy_dir, fixture_dir):
            shutil.rmtree(path, ignore_errors=True)
        vap_file.unlink(missing_ok=True)
        raise
    root = paths.project_root()
    return Scaffold(
        cid, package, [catalog_file.relative_to(root)] + [p.relative_to(root) for p in written]
    )


def left_to_do(control_id: str, package: str) -> list[str]:
    """What a contributor edits, regenerates and updates by hand after the scaffold, one
    line each (the README's "Adding a control" shows them for <ID> and <pkg>)."""
    return [
        f"edit policies/controls/{package}/policy.rego: the control's check in place of the "
        f'`example` rule (keep the guard, the exemption lookup and the "[{control_id}] " prefix)',
        f"edit scenarios/fixtures/{control_id}/: allow and deny cases of that check in place of "
        "the example's, each listed in suite.yaml with what it covers and, if denied, its "
        "reason (at least 2 allow and 3 deny; absent, explicit, template, and init or "
        "ephemeral if a denial names a container)",
        f"edit policies/vap/{package}.yaml: the check in CEL, or delete the file and give the "
        "reason under cannot or unwritten in policies/vap/unexpressed.yaml",
        f"edit scenarios/catalog.yaml: {control_id}'s rationale (what the check enforces and "
        "what it leaves out), and scope and not_on_windows where they apply",
        f"run python -m harness policy-test --sync: regenerates policies/controls/{package}/"
        "policy_test.rego from the suite, then runs opa test (every line covered)",
        "run python -m harness build: recompiles the Wasm module harness/compiled/ ships "
        "(tests/test_wasm.py)",
        f"update scenarios/mutants.yaml only for a survivor of {control_id}'s own check that no "
        "fixture can kill, with the reason (the write guards' and the exemption guard's entries "
        "name controls/*/policy.rego, every control); an unexplained survivor lowers its clause "
        f"score (harness mutate --controls {control_id} --level clause)",
        "update examples/compliant/: the setting the check asks for, if it denies the "
        "compliant Deployment (tests/test_first_run.py)",
        f"update tests/test_catalog.py: {control_id} in NSA_IDS or CIS_IDS and the count of 55, "
        "which hold the catalog to the thesis's controls (tests/test_cli.py counts the 25 NSA "
        "ones)",
        "run python -m harness reference from a commit, then python -m harness paper: the "
        "reference runs and the paper predate the control (tests/test_paper.py)",
    ]


def _fill(template: str, control_id: str, package: str) -> str:
    return (
        template.replace("<ID>", control_id)
        .replace("<pkg>", package)
        .replace("<label>", EXAMPLE_LABEL)
        .replace("<reason>", EXAMPLE_REASON)
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _scalar(text: str) -> str:
    """text as a YAML scalar: plain where YAML reads it back as the same string, else
    double-quoted (a JSON string is one)."""
    try:
        plain = yaml.safe_load(text) == text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)


def _entry(control_id: str, package: str, title: str, guideline: str) -> str:
    framework = control_id.split("-")[0].lower()
    return f"""- id: {control_id}
  framework: {framework}
  title: {_scalar(title)}
  guideline: {_scalar(guideline)}
  assessment: RD
  enforcement: admission
  thesis: none
  policy: {package}
  fixtures: {control_id}
  scope: full
  rationale: >-
    A scaffold from `python -m harness new-control`, to be rewritten: the policy's
    example check denies a pod, or a workload's pod template, labelled
    {EXAMPLE_LABEL}: deny. Say what the control's check enforces and what of the
    guideline it leaves out.
"""


def _insert_entry(text: str, entry: str, control_id: str) -> str:
    """The catalog with entry in table order (before the first entry that sorts after
    it), entries parted by a blank line as the others are."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        match = re.match(r"- id: (\S+)\s*$", line)
        if match and ID_PATTERN.match(match[1]) and id_sort_key(match[1]) > id_sort_key(control_id):
            return "".join(lines[:i]) + entry + "\n" + "".join(lines[i:])
    return text.rstrip("\n") + "\n\n" + entry


def _manifest(case: _Case) -> str:
    name = Path(case.file).stem
    labels = f"{EXAMPLE_LABEL}: {case.label}" if case.label else None
    if case.kind == "Pod":
        meta = f"  labels:\n    {labels}\n" if labels else ""
        return (
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: team-a\n{meta}"
            f"spec:\n  containers:\n{_indent(_CONTAINER, 2)}"
        )
    # The workloads' pod template, written once; restartPolicy only where Jobs need it.
    template = (
        f"template:\n  metadata:\n    labels:\n      app: {name}\n      {labels}\n"
        f"  spec:\n    containers:\n{_indent(_CONTAINER, 4)}"
    )
    if case.kind == "Deployment":
        return (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
            f"  namespace: team-a\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n"
            f"      app: {name}\n{_indent(template, 2)}"
        )
    return (
        f"apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\n"
        f"  namespace: team-a\nspec:\n  schedule: '*/5 * * * *'\n  jobTemplate:\n    spec:\n"
        f"{_indent(template, 6)}          restartPolicy: Never\n"
    )


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line for line in text.splitlines(keepends=True))


def _suite() -> str:
    lines = [_SUITE_HEADER.rstrip("\n"), "cases:"]
    for case in _CASES:
        lines.append(f"- file: {case.file}")
        if case.file.startswith("deny/"):
            lines.append(f'  reason: "{EXAMPLE_REASON}"')
        lines += [f"  note: {case.note}", "  covers:", f"  - {case.covers}"]
    return "\n".join(lines) + "\n"
