"""Kubernetes' own Pod Security Admission test data as a conformance test for NSA-1.4.

Module k8s.io/pod-security-admission v0.37.2 (the kube-apiserver we build) carries
test/testdata/<level>/v1.37/{pass,fail}/*.yaml, written by the PSA maintainers from
the checks' definitions (test/fixtures_*.go): each fail fixture violates the check its
file name names. NSA-1.4 is the restricted profile, which holds every baseline check:
every restricted pass fixture must be admitted, every fail fixture of either level
denied with a message about the check it names. Baseline pass fixtures are not asked:
restricted may deny them for its own checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.model.manifests import admission_review, load_documents
from harness.model.policies import PolicySet, load_modules
from harness.targets.wasm import WasmTarget

MODULE = "k8s.io/pod-security-admission@v0.37.2"
VERSION = "v1.37"
QUERY = "controls/nsa_1_4/deny"
# PSA check (the file name less its number) -> text some NSA-1.4 message must hold.
CHECK_TEXT = {
    "allowprivilegeescalation": "allowprivilegeescalation",
    "apparmorprofile": "apparmor",
    "capabilities_baseline": "capabilities.add",
    "capabilities_restricted": "capabilities",
    "hostnamespaces": "spec.host",
    "hostpathvolumes": "hostpath",
    "hostports": "hostport",
    "hostprobesandhostlifecycle": ".host must not be set",
    "privileged": "privileged",
    "procmount": "procmount",
    "procmount_restricted": "procmount",
    "restrictedvolumes": "volume type",
    "runasnonroot": "runasnonroot",
    "runasuser": "runasuser",
    "seccompprofile_baseline": "seccompprofile",
    "seccompprofile_restricted": "seccompprofile",
    "selinuxoptions": "selinuxoptions",
    "sysctls": "sysctl",
    "windowshostprocess": "hostprocess",
}


@pytest.fixture(scope="module")
def testdata() -> Path:
    """The module's test data, from the Go module cache (downloaded if missing)."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI"):
            pytest.fail("go is needed to read Kubernetes' PSA test data (CI must provide it)")
        pytest.skip("go is not installed: Kubernetes' PSA test data comes from its module")
    out = subprocess.run(
        [go, "mod", "download", "-json", MODULE], capture_output=True, text=True, check=True
    )
    return Path(json.loads(out.stdout)["Dir"]) / "test" / "testdata"


@pytest.fixture(scope="module")
def nsa_1_4():
    from harness.model.config import load_config

    target = WasmTarget()
    target.start(PolicySet(load_modules(), load_config(), {}, [QUERY]))
    yield lambda body: target.decide(target.prepare(admission_review(body), QUERY))
    target.close()


def cases(testdata: Path, level: str, expect: str) -> list[Path]:
    found = sorted((testdata / level / VERSION / expect).glob("*.yaml"))
    assert found, f"no {level} {expect} fixtures in {testdata}"
    return found


def test_restricted_pass_fixtures_are_admitted(testdata, nsa_1_4):
    denied = {
        f.name: nsa_1_4(load_documents(f)[0].body).messages
        for f in cases(testdata, "restricted", "pass")
    }
    assert {name: m for name, m in denied.items() if m} == {}


@pytest.mark.parametrize("level", ["restricted", "baseline"])
def test_fail_fixtures_are_denied_for_the_check_they_name(testdata, nsa_1_4, level):
    wrong = {}
    for f in cases(testdata, level, "fail"):
        check = re.sub(r"\d+$", "", f.stem)
        decision = nsa_1_4(load_documents(f)[0].body)
        text = CHECK_TEXT[check]
        if decision.allowed or not any(text in m.lower() for m in decision.messages):
            wrong[f.name] = list(decision.messages)
    assert wrong == {}
