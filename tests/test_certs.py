"""harness.model.certs reads a client certificate's organizations as Go does: held to
OPA's crypto.x509.parse_certificates (Go's crypto/x509) over every subject of the corpus,
an issuer in system:masters, bundles and malformed input; and the node trees' committed
certificates say what their names promise."""

from __future__ import annotations

import base64

import pytest

from harness.model import nodetree
from harness.model.certs import CertificateError, leaf_organizations, subject_organizations
from tests.conftest import opa_eval
from tests.oracles.certs import (
    ISSUER_MASTERS,
    ISSUER_MASTERS_CA,
    KUBEADM,
    certificate_pem,
    subjects,
)
from tests.oracles.csr import CORPUS

PARSE = "crypto.x509.parse_certificates(input.pem)"


def go_organizations(opa, pem: bytes, tmp_path) -> list[str]:
    """The first certificate's subject organizations as Go's x509 parses the PEM."""
    parsed = opa_eval(opa, PARSE, {"pem": base64.b64encode(pem).decode()}, tmp_path)
    return parsed[0]["Subject"]["Organization"] or []


@pytest.mark.parametrize("name", sorted(subjects()))
def test_organizations_are_read_as_go_reads_them(name, opa_binary, tmp_path):
    pem = certificate_pem(subjects()[name])
    assert leaf_organizations(pem) == go_organizations(opa_binary, pem, tmp_path)


def test_the_issuer_is_not_the_subject(opa_binary, tmp_path):
    pem = certificate_pem(CORPUS["developers"], ISSUER_MASTERS_CA)
    assert leaf_organizations(pem) == go_organizations(opa_binary, pem, tmp_path) == ["developers"]


def test_a_bundle_is_read_from_its_first_certificate(opa_binary, tmp_path):
    """A TLS client sends the first certificate of its PEM as the leaf; a CA after it
    in the bundle, even one in system:masters, is not the client."""
    pem = certificate_pem(CORPUS["developers"]) + certificate_pem(ISSUER_MASTERS_CA)
    assert leaf_organizations(pem) == go_organizations(opa_binary, pem, tmp_path)
    assert leaf_organizations(pem) == ["developers"]


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30\x80\x00\x00",  # indefinite length: not DER
        b"\x30\x81\x05\x30\x03\x02\x01\x01",  # a long form for a short length
        b"\x31\x03\x02\x01\x01",  # a SET where the certificate's SEQUENCE belongs
        b"\x30\x05\x30\x03\x02\x01",  # content shorter than its length
    ],
)
def test_malformed_der_is_an_error_not_an_empty_subject(der):
    with pytest.raises(CertificateError):
        subject_organizations(der)


def test_pem_without_a_certificate_is_an_error():
    with pytest.raises(CertificateError, match="no CERTIFICATE block"):
        leaf_organizations(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_node_certificates_hold_what_their_names_say():
    """scenarios/node-certificates.yaml (tests/oracles/certs.py): kubeadm's identities
    and the corpus subjects the node fixtures use."""
    corpus = nodetree.certificate_corpus()
    assert leaf_organizations(corpus["kubernetes-super-admin"].encode()) == ["system:masters"]
    assert leaf_organizations(corpus["kubernetes-admin"].encode()) == ["kubeadm:cluster-admins"]
    assert leaf_organizations(corpus[ISSUER_MASTERS].encode()) == ["developers"]
    for name in set(corpus) & set(KUBEADM):
        pem = certificate_pem(KUBEADM[name])
        assert leaf_organizations(corpus[name].encode()) == leaf_organizations(pem)
