"""Real certificate signing requests for CIS-5.1.7: the fixtures' requests (written by
`python -m tests.oracles.csr`, each with a fresh key) and the corpus tests/test_csr.py
holds lib.csr to, against OPA's x509 parser (Go's crypto/x509)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

ORG, UNIT, CN = NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.COMMON_NAME
UTF8, PRINTABLE, BMP, IA5 = (
    _ASN1Type.UTF8String,
    _ASN1Type.PrintableString,
    _ASN1Type.BMPString,
    _ASN1Type.IA5String,
)

# Subjects as relative distinguished names, each a list of (oid, value, string type).
Subject = list[list[tuple[x509.ObjectIdentifier, str, _ASN1Type]]]

CORPUS: dict[str, Subject] = {
    "masters": [[(ORG, "system:masters", UTF8)], [(CN, "alice", UTF8)]],
    "masters-printable": [[(ORG, "system:masters", PRINTABLE)], [(CN, "alice", UTF8)]],
    "masters-bmp": [[(ORG, "system:masters", BMP)], [(CN, "alice", UTF8)]],
    "masters-ia5": [[(ORG, "system:masters", IA5)], [(CN, "alice", UTF8)]],
    "masters-second-organization": [
        [(ORG, "developers", UTF8)],
        [(ORG, "system:masters", UTF8)],
        [(CN, "alice", UTF8)],
    ],
    "masters-multivalued-rdn": [[(CN, "alice", UTF8), (ORG, "system:masters", UTF8)]],
    "masters-as-common-name": [[(CN, "system:masters", UTF8)]],
    "masters-as-unit": [[(UNIT, "system:masters", UTF8)], [(CN, "alice", UTF8)]],
    "masters-other-case": [[(ORG, "System:Masters", UTF8)], [(CN, "alice", UTF8)]],
    "masters-longer": [[(ORG, "system:masters2", UTF8)], [(CN, "alice", UTF8)]],
    "developers": [[(ORG, "developers", UTF8)], [(CN, "alice", UTF8)]],
    # The attribute lands at each of base64's three alignments (the name before it
    # shifts it by a byte), and a group one bit away from system:masters at each.
    "masters-after-name": [[(CN, "ab", UTF8)], [(ORG, "system:masters", UTF8)]],
    "masters-after-longer-name": [[(CN, "abc", UTF8)], [(ORG, "system:masters", UTF8)]],
    "masters-bmp-after-name": [[(CN, "ab", UTF8)], [(ORG, "system:masters", BMP)]],
    "masters-bmp-after-longer-name": [[(CN, "abc", UTF8)], [(ORG, "system:masters", BMP)]],
    "lookalike": [[(ORG, "system:masterr", UTF8)], [(CN, "alice", UTF8)]],
    "lookalike-after-name": [[(CN, "ab", UTF8)], [(ORG, "system:masterr", UTF8)]],
    "lookalike-after-longer-name": [[(CN, "abc", UTF8)], [(ORG, "system:masterr", UTF8)]],
    "lookalike-bmp": [[(ORG, "system:masterr", BMP)], [(CN, "alice", UTF8)]],
    "lookalike-bmp-after-name": [[(CN, "ab", UTF8)], [(ORG, "system:masterr", BMP)]],
    "lookalike-bmp-after-longer-name": [[(CN, "abc", UTF8)], [(ORG, "system:masterr", BMP)]],
    "no-subject": [],
}


def request_pem(subject: Subject, headers: dict[str, str] | None = None) -> bytes:
    """A PEM CERTIFICATE REQUEST for subject, signed with a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.RelativeDistinguishedName([x509.NameAttribute(o, v, t) for o, v, t in rdn])
         for rdn in subject]
    )  # fmt: skip
    pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    if headers:
        begin, rest = pem.split(b"\n", 1)
        lines = "".join(f"{k}: {v}\n" for k, v in headers.items()).encode()
        pem = begin + b"\n" + lines + b"\n" + rest
    return pem


def signing_request(name: str, pem: bytes, signer: str) -> dict:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(pem).decode(),
            "signerName": signer,
            "usages": ["digital signature", "client auth"],
        },
    }


# The fixtures: (folder, file stem, corpus subject, PEM headers). Denied requests name a
# signer of the admin's own: for kubernetes.io/kube-apiserver-client, kube-apiserver's
# CertificateSubjectRestriction plugin refuses O=system:masters before any webhook.
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
OWN_SIGNER = "example.com/internal-ca"
FIXTURES = [
    ("allow", "csr-developers", "developers", None),
    ("allow", "csr-masters-as-common-name", "masters-as-common-name", None),
    ("allow", "csr-masters-as-unit", "masters-as-unit", None),
    ("allow", "csr-lookalike-after-name", "lookalike-after-name", None),
    ("allow", "csr-lookalike-after-longer-name", "lookalike-after-longer-name", None),
    ("allow", "csr-lookalike-bmp", "lookalike-bmp", None),
    ("deny", "csr-masters", "masters", None),
    ("deny", "csr-masters-after-name", "masters-after-name", None),
    ("deny", "csr-masters-after-longer-name", "masters-after-longer-name", None),
    ("deny", "csr-masters-second-organization", "masters-second-organization", None),
    ("deny", "csr-masters-bmp", "masters-bmp", None),
    ("deny", "csr-masters-multivalued-rdn", "masters-multivalued-rdn", None),
    ("deny", "csr-masters-pem-headers", "masters", {"Comment": "requested by ci"}),
]


def write_fixtures(folder: Path) -> None:
    for expect, stem, subject, headers in FIXTURES:
        signer = CLIENT_SIGNER if expect == "allow" else OWN_SIGNER
        body = signing_request(stem, request_pem(CORPUS[subject], headers), signer)
        (folder / expect / f"{stem}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    write_fixtures(root / "scenarios" / "fixtures" / "CIS-5.1.7")
    sys.exit(0)


# DER of an organizationName attribute whose value is system:masters: the OID 2.5.4.10,
# then the string's type and length. Go's x509 reads PrintableString (19), UTF8String
# (12), T61String (20) and IA5String (22) as bytes and BMPString (30) as UTF-16.
MASTERS = b"system:masters"
ORGANIZATION_OID = bytes([6, 3, 85, 4, 10])
MASTERS_ATTRIBUTES = [
    ORGANIZATION_OID + bytes([tag, len(MASTERS)]) + MASTERS for tag in (12, 19, 20, 22)
]
MASTERS_ATTRIBUTES.append(
    ORGANIZATION_OID + bytes([30, 2 * len(MASTERS)]) + MASTERS.decode().encode("utf-16-be")
)


def base64_patterns(data: bytes) -> list[dict[str, int | str]]:
    """The base64 text of data wherever it sits in an encoded stream: for each of the
    three alignments, the characters that encode only bytes of data ("text"), and the
    value ("tail") of data's last bits that the next character carries, read as that
    character's value divided by "divisor" (64 when no bits are left over)."""
    patterns = []
    for offset in range(3):
        text = base64.b64encode(bytes(offset) + data).decode()
        start = -(-offset * 8 // 6)  # the first character free of the leading bytes
        end = (offset + len(data)) * 8 // 6  # past the last one free of what follows
        tail_bits = 8 * (offset + len(data)) - 6 * end
        patterns.append(
            {
                "text": text[start:end],
                "tail": data[-1] & ((1 << tail_bits) - 1),
                "divisor": 1 << (6 - tail_bits),
            }
        )
    return patterns


def masters_patterns() -> list[dict[str, int | str]]:
    """lib.csr's masters_patterns, sorted by text."""
    found = [p for attribute in MASTERS_ATTRIBUTES for p in base64_patterns(attribute)]
    return sorted(found, key=lambda p: p["text"])
