"""Differential fuzzing against the real Pod Security Admission, and the bootstrap RBAC
data the CIS-5.1.x policies compare with: both need the pinned etcd and kube-apiserver."""

from __future__ import annotations

import json

from harness.checks import fuzz, rbacdefaults
from harness.infra import psa
from tests.conftest import harness_cli, require_tool


def test_mutation_sets_removes_and_creates_nested_fields():
    pod = {"spec": {"containers": [{"name": "a", "securityContext": {"privileged": True}}]}}
    fuzz.Mutation(("spec", "containers", 0, "securityContext", "privileged"), fuzz.ABSENT).apply(
        pod
    )
    fuzz.Mutation(("spec", "securityContext", "runAsUser"), 0).apply(pod)
    assert pod["spec"] == {
        "containers": [{"name": "a", "securityContext": {}}],
        "securityContext": {"runAsUser": 0},
    }
    label = fuzz.Mutation(("spec", "containers", 0, "ports"), None).label
    assert label == "spec.containers[0].ports=null"


def test_generation_is_repeatable_and_covers_every_single_mutation_first():
    base = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    singles = len(fuzz.mutations_for(base))
    first = fuzz.generate({"b": base}, singles + 50, seed=7)
    again = fuzz.generate({"b": base}, singles + 50, seed=7)
    assert [m.pod for m in first] == [m.pod for m in again]
    assert all(len(m.mutations) == 1 for m in first[:singles])
    assert all(len(m.mutations) == 2 for m in first[singles:])


def test_psa_message_parsed_into_reasons():
    message = (
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": host namespaces '
        '(hostNetwork=true), hostPort (container "a" uses hostPort 80), '
        'runAsNonRoot != true (pod or container "a" must set securityContext.runAsNonRoot=true)'
    )
    assert psa.violations(message) == {
        "host namespaces": "hostNetwork=true",
        "hostPort": 'container "a" uses hostPort 80',
        "runAsNonRoot != true": 'pod or container "a" must set securityContext.runAsNonRoot=true',
    }


def test_fuzz_finds_no_disagreement_with_pod_security_admission(tmp_path):
    require_tool("kube-apiserver")
    out = tmp_path / "fuzz"
    result = harness_cli(
        "fuzz", "--count", "400", "--seed", "3", "--out", str(out), "--format", "json", timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["corpus"] == 400 and summary["unexplained"] == 0
    assert summary["judged"] > 300 and 0 < summary["psa_denied"] < summary["judged"]
    assert (out / "corpus.jsonl.gz").is_file() and (out / "verdicts.jsonl").is_file()


def test_rbac_defaults_match_what_kube_apiserver_bootstraps():
    require_tool("kube-apiserver")
    require_tool("etcd")
    assert rbacdefaults.sync(write=False), "run python -m harness rbac-defaults --write"
