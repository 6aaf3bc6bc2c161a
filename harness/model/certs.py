"""The subject organizations of a kubeconfig's client certificate, read as Go reads them.

kube-apiserver turns the O values of a client certificate's subject into the user's
groups, and the group system:masters passes every authorization check (CIS-5.1.7). What
counts is Go's reading: `tls.X509KeyPair` takes the first CERTIFICATE block of the PEM
as the leaf, and crypto/x509 (parser.go: parseCertificate up to the subject, parseName,
parseASN1String; pkix.Name.FillFromRDNSequence) collects every 2.5.4.10 attribute of
every RDN, in order. This module follows those functions; it stops after the subject,
so a certificate Go would refuse for a later field still has its organizations read
here (stricter, never laxer).

Pure Python on purpose: node-check gates kubelet's start, and importing cryptography
would add about 70 ms to it. tests/test_certs.py holds this reading to Go's (OPA's
`crypto.x509.parse_certificates`) over a corpus of certificates.
"""

from __future__ import annotations

import base64
import binascii
import re

ORGANIZATION = bytes([0x55, 0x04, 0x0A])  # 2.5.4.10
SEQUENCE, SET, INTEGER, VERSION = 0x30, 0x31, 0x02, 0xA0
UTF8, NUMERIC, PRINTABLE, T61, IA5, BMP = 0x0C, 0x12, 0x13, 0x14, 0x16, 0x1E
OID = 0x06
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.DOTALL)
_PRINTABLE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+,-./ :=?*&"
)


class CertificateError(ValueError):
    """The certificate cannot be read the way Go reads it."""


def leaf_organizations(pem: bytes) -> list[str]:
    """O values of the first certificate in a PEM bundle (the leaf a TLS client sends)."""
    match = _PEM.search(pem)
    if match is None:
        raise CertificateError("no CERTIFICATE block in the PEM data")
    body = match.group(1)
    if b"\n\n" in body.replace(b"\r", b"") and b":" in body.split(b"\n\n")[0]:
        body = body.replace(b"\r", b"").split(b"\n\n", 1)[1]  # PEM headers, then a blank line
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as exc:
        raise CertificateError(f"the CERTIFICATE block is not base64: {exc}") from None
    return subject_organizations(der)


def subject_organizations(der: bytes) -> list[str]:
    """O values of a DER certificate's subject, in order, as pkix.Name.Organization."""
    certificate, _ = _element(der, 0, SEQUENCE, "certificate")
    tbs, _ = _element(certificate, 0, SEQUENCE, "tbs certificate")
    pos = 0
    if tbs[:1] == bytes([VERSION]):
        _, pos = _element(tbs, pos, VERSION, "version")
    for tag, what in ((INTEGER, "serial number"), (SEQUENCE, "signature algorithm"),
                      (SEQUENCE, "issuer"), (SEQUENCE, "validity")):  # fmt: skip
        _, pos = _element(tbs, pos, tag, what)
    subject, _ = _element(tbs, pos, SEQUENCE, "subject")
    return _organizations(subject)


def _organizations(name: bytes) -> list[str]:
    found = []
    pos = 0
    while pos < len(name):
        rdn, pos = _element(name, pos, SET, "RDNSequence")
        at = 0
        while at < len(rdn):
            attribute, at = _element(rdn, at, SEQUENCE, "attribute")
            oid, rest = _element(attribute, 0, OID, "attribute type")
            tag, value, _ = _any(attribute, rest, "attribute value")
            text = _string(tag, value)  # every value must parse, as in Go
            if oid == ORGANIZATION:
                found.append(text)
    return found


def _string(tag: int, value: bytes) -> str:
    """parseASN1String: the string types Go accepts in a name, and their checks."""
    if tag == T61:
        return value.decode("latin-1")
    if tag == PRINTABLE:
        if not set(value) <= _PRINTABLE:
            raise CertificateError("invalid PrintableString")
        return value.decode("ascii")
    if tag == UTF8:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise CertificateError("invalid UTF-8 string") from None
    if tag == BMP:
        return _bmp(value)
    if tag == IA5:
        if any(b > 0x7F for b in value):
            raise CertificateError("invalid IA5String")
        return value.decode("ascii")
    if tag == NUMERIC:
        if not set(value) <= frozenset(b"0123456789 "):
            raise CertificateError("invalid NumericString")
        return value.decode("ascii")
    raise CertificateError(f"unsupported string type: {tag}")


def _bmp(value: bytes) -> str:
    if len(value) % 2:
        raise CertificateError("invalid BMPString")
    if len(value) >= 2 and value[-2:] == b"\0\0":
        value = value[:-2]
    points = [value[i] << 8 | value[i + 1] for i in range(0, len(value), 2)]
    if any(p in (0xFFFE, 0xFFFF) or 0xFDD0 <= p <= 0xFDEF or 0xD800 <= p <= 0xDFFF for p in points):
        raise CertificateError("invalid BMPString")
    return "".join(map(chr, points))


def _element(data: bytes, pos: int, tag: int, what: str) -> tuple[bytes, int]:
    found, content, end = _any(data, pos, what)
    if found != tag:
        raise CertificateError(f"malformed {what}")
    return content, end


def _any(data: bytes, pos: int, what: str) -> tuple[int, bytes, int]:
    """One DER element at pos: (tag, content, end), with cryptobyte's strictness (one-
    byte tags, definite minimal lengths)."""
    if pos + 2 > len(data) or data[pos] & 0x1F == 0x1F:
        raise CertificateError(f"malformed {what}")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if size == 0 or size > 4 or pos + size > len(data) or data[pos] == 0:
            raise CertificateError(f"malformed {what}")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
        if length < 0x80 or length >> (8 * (size - 1)) == 0:
            raise CertificateError(f"malformed {what}")  # not the shortest form
    if pos + length > len(data):
        raise CertificateError(f"malformed {what}")
    return tag, data[pos : pos + length], pos + length
