"""CIS-5.1.7 on CertificateSigningRequests: lib.csr reads a request's organizations in
plain Rego (base64, PEM, a scan of the DER), so it is held to the parser kube-apiserver
uses, Go's crypto/x509, as OPA's crypto.x509.parse_certificate_request exposes it: over
a corpus of fresh requests on the in-process engines, and over the committed fixtures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness import paths
from harness.model.manifests import admission_review
from tests.conftest import opa_eval
from tests.oracles.csr import (
    CORPUS,
    OWN_SIGNER,
    masters_patterns,
    request_pem,
    signing_request,
)

QUERY = "controls/cis_5_1_7/deny"
POLICIES = paths.policies_dir()
MASTERS = "system:masters"


def go_organizations(opa: Path, request: str, tmp_path: Path) -> list[str]:
    """The subject's organizations as Go's x509 parses the PEM in spec.request."""
    expression = "crypto.x509.parse_certificate_request(base64.decode(input.request))"
    parsed = opa_eval(opa, expression, {"request": request}, tmp_path)
    return parsed["Subject"]["Organization"] or []


@pytest.mark.parametrize("subject", sorted(CORPUS))
@pytest.mark.parametrize("headers", [None, {"Comment": "a header"}], ids=["plain", "headers"])
def test_engines_find_system_masters_where_go_does(
    subject, headers, opa_binary, embedded, wasm_target, tmp_path
):
    body = signing_request(subject, request_pem(CORPUS[subject], headers), OWN_SIGNER)
    wanted = MASTERS in go_organizations(opa_binary, body["spec"]["request"], tmp_path)
    review = admission_review(body)
    for engine in (embedded, wasm_target):
        decision = engine.decide(engine.prepare(review, QUERY))
        assert (not decision.allowed) == wanted, (type(engine).__name__, decision.messages)


def test_committed_requests_say_what_their_folder_says(opa_binary, fixture_set, tmp_path):
    """Each CSR fixture asks for system:masters exactly when it sits in deny/."""
    requests = [
        f
        for f in fixture_set.by_control["CIS-5.1.7"]
        if f.subject.kind == "CertificateSigningRequest"
    ]
    assert len(requests) >= 8
    for fixture in requests:
        organizations = go_organizations(
            opa_binary, fixture.subject.body["spec"]["request"], tmp_path
        )
        assert (MASTERS in organizations) == (fixture.expect == "deny"), fixture.id


def test_the_pattern_table_is_the_one_the_der_makes(opa_binary):
    """lib.csr's masters_patterns, recomputed from the DER of each attribute."""
    out = subprocess.run(
        [str(opa_binary), "eval", "--format", "json", "-d", str(POLICIES / "lib"),
         "--ignore", "*_test.rego", "data.lib.csr.masters_patterns"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    table = json.loads(out.stdout)["result"][0]["expressions"][0]["value"]
    assert table == masters_patterns()
