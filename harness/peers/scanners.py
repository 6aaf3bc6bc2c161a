"""Published rule sets as they ship, run offline on the fixture files: which of their
checks fail for the object under review of each fixture.

Each scanner reads a fixture's file as a user would hand it over (the object plus the
cluster state beside it, such as the namespace's NetworkPolicies), and checks that join
objects (a pod and its NetworkPolicy) see only that file's objects, as our policies do:
checkov and kube-score read one fixture file per call; trivy, whose Kubernetes checks
read one object at a time, a folder at a time. Node trees and cluster states are not
manifests these tools read; they are left out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model.clusterstate import CLUSTER_STATE
from harness.model.config import load_config
from harness.model.fixtures import Fixture

Fired = dict[str, set[str]]  # fixture id -> check ids that failed on its subject
TIMEOUT_S = 600


def scannable(fixture: Fixture) -> bool:
    """A manifest a scanner can read: not a node tree or a whole cluster's state, and an
    object with a name (checkov 3.3.30 fails on one named by generateName alone)."""
    named = bool((fixture.subject.body.get("metadata") or {}).get("name"))
    return not fixture.is_node_tree and fixture.subject.kind != CLUSTER_STATE and named


def _staged(fixtures: Iterable[Fixture], root: Path) -> dict[str, dict[str, Fixture]]:
    """Copies of the fixture files, one folder per fixture folder: {folder: {file: fixture}}."""
    staged: dict[str, dict[str, Fixture]] = defaultdict(dict)
    for fixture in fixtures:
        name = f"{fixture.expect}__{fixture.path.stem}.yaml"
        (root / fixture.folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixture.path, root / fixture.folder / name)
        staged[fixture.folder][name] = fixture
    return staged


def run_tool(
    args: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0, 1)
) -> str:
    try:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{Path(args[0]).name} gave no answer in {TIMEOUT_S} s") from None
    if result.returncode not in ok:
        tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-2:])
        raise HarnessError(f"{Path(args[0]).name} exited {result.returncode}: {tail}")
    return result.stdout


def _is_subject(fixture: Fixture, kind: str, name: str) -> bool:
    return kind == fixture.subject.kind and name == fixture.subject.name


# ---------------------------------------------------------------- checkov


def checkov(binary: Path, fixtures: list[Fixture]) -> Fired:
    """`checkov -d <dir> --framework kubernetes -o json`, offline (BC_SKIP_MAPPING: no
    download of Prisma Cloud's guideline mapping), one fixture per directory: its graph
    checks join objects across files and namespaces (CKV2_K8S_6 passed a pod without any
    NetworkPolicy when another fixture's namespace had one), so each fixture is read
    with only its own cluster state, as our policies read it. Two processes at a time."""
    with tempfile.TemporaryDirectory(prefix="pac-harness-checkov-") as tmp:

        def one(index: int, fixture: Fixture) -> tuple[str, set[str]]:
            folder = Path(tmp) / str(index)
            folder.mkdir()
            shutil.copyfile(fixture.path, folder / fixture.path.name)
            args = [str(binary), "-d", str(folder), "--framework", "kubernetes"]
            args += ["-o", "json", "--quiet", "--compact", "--skip-download"]
            out = run_tool(args, env={"BC_SKIP_MAPPING": "TRUE"})
            found = set()
            for report in _reports(json.loads(out) if out.strip() else []):
                for check in report.get("results", {}).get("failed_checks", []):
                    kind, _, rest = str(check.get("resource", "")).partition(".")
                    if _is_subject(fixture, kind, rest.rsplit(".", 1)[-1]):
                        found.add(check["check_id"])
            return fixture.id, found

        with ThreadPoolExecutor(max_workers=2) as pool:
            return dict(pool.map(lambda pair: one(*pair), enumerate(fixtures)))


def _reports(answer: Any) -> list[dict[str, Any]]:
    """checkov prints one report object, or a list when several frameworks answer."""
    return answer if isinstance(answer, list) else [answer]


# ---------------------------------------------------------------- kube-score

# kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 OK. A warning is a finding
# too (the optional seccomp check never grades worse), though only criticals set its exit.
KUBE_SCORE_FAILING = (1, 5)
KUBE_SCORE_OPTIONAL = ("container-seccomp-profile",)


def kube_score(binary: Path, fixtures: list[Fixture]) -> Fired:
    """`kube-score score -o json` per fixture file; a check fires when it grades the
    subject critical or warning."""
    fired: Fired = {f.id: set() for f in fixtures}
    for fixture in fixtures:
        args = [str(binary), "score", "-o", "json", "--output-version", "v2"]
        for test in KUBE_SCORE_OPTIONAL:
            args += ["--enable-optional-test", test]
        answer = json.loads(run_tool([*args, str(fixture.path)]) or "[]") or []
        for obj in answer:
            kind = obj.get("type_meta", {}).get("kind", "")
            name = obj.get("object_meta", {}).get("name", "")
            if not _is_subject(fixture, kind, name):
                continue
            for check in obj.get("checks", []):
                if not check.get("skipped") and check.get("grade") in KUBE_SCORE_FAILING:
                    fired[fixture.id].add(check["check"]["id"])
    return fired


# ---------------------------------------------------------------- trivy


def trivy(binary: Path, fixtures: list[Fixture]) -> Fired:
    """`trivy config --format json` per fixture folder with its embedded checks, offline
    (--skip-check-update; a cache of its own in a temporary folder). trivy reports per
    file, not per object; a fixture file's other objects are cluster state (Namespaces,
    NetworkPolicies, quotas), which the workload and RBAC checks do not read."""
    fired: Fired = {f.id: set() for f in fixtures}
    with tempfile.TemporaryDirectory(prefix="pac-harness-trivy-") as tmp:
        staged = _staged(fixtures, Path(tmp) / "fixtures")
        # KSV-0125 reads the trusted registries from data.ksv0125: the admin's own list.
        data = Path(tmp) / "data"
        data.mkdir()
        trusted = load_config().get("trusted_registries") or []
        (data / "ksv0125.json").write_text(json.dumps({"ksv0125": {"trusted_registries": trusted}}))
        for folder, files in staged.items():
            args = [str(binary), "config", "--format", "json", "--quiet", "--skip-check-update"]
            args += ["--cache-dir", str(Path(tmp) / "cache"), "--config-data", str(data)]
            args.append(str(Path(tmp) / "fixtures" / folder))
            answer = json.loads(run_tool(args, ok=(0,)) or "{}")
            for result in answer.get("Results") or []:
                fixture = files.get(Path(result.get("Target", "")).name)
                for finding in result.get("Misconfigurations") or []:
                    if fixture and finding.get("Status") == "FAIL":
                        fired[fixture.id].add(finding["ID"])
    return fired


SCANNERS: dict[str, Callable[[Path, list[Fixture]], Fired]] = {
    "checkov": checkov,
    "kube-score": kube_score,
    "trivy": trivy,
}
