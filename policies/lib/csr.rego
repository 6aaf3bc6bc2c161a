# CertificateSigningRequests (CIS-5.1.7): does the request in spec.request ask for the
# group system:masters? kube-apiserver reads it with certificates.ParseCSR (the first PEM
# block, which must be a CERTIFICATE REQUEST, then Go's x509 parser) and takes a client
# certificate's groups from the subject's organizations; a certificate in system:masters
# passes every authorizer, so no RBAC binding is needed to use it.
#
# The request is read in plain Rego, not with crypto.x509.parse_certificate_request:
# rego-cpp's parser returns only the CommonName, and OPA's Wasm runtime has none.
package lib.csr

import data.lib.k8s

csr_write if {
	k8s.reviewed
	k8s.kind == "CertificateSigningRequest"
}

# Control characters spelt as base64: rego-cpp 1.5.2 keeps "\n" in a string literal as a
# backslash and an n, where OPA reads a newline.
newline := base64.decode("Cg==")

carriage_return := base64.decode("DQ==")

tab := base64.decode("CQ==")

base64_alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# The PEM text without whitespace, so that the DER's base64 is one run of characters
# (Go's pem drops line breaks, spaces and tabs too). The BEGIN and END lines and any PEM
# headers stay: they cannot spell an attribute's base64, and kube-apiserver has checked
# that the first block is a request Go parses before any webhook sees it.
der_base64 := replace(replace(replace(replace(pem, newline, ""), carriage_return, ""), tab, ""), " ", "") if {
	pem := base64.decode(k8s.obj.spec.request)
}

# An organizationName attribute whose value is system:masters, as DER writes it (OID
# 2.5.4.10, the string's type and length, the value): PrintableString, UTF8String,
# T61String and IA5String hold the bytes, BMPString UTF-16, and Go's x509 reads all five
# as the same group. The DER is not decoded here; each attribute is looked for in its
# base64 at all three alignments: "text" is the characters that encode only the
# attribute, and the character after it carries the attribute's last bits (its value
# divided by "divisor" must be "tail"; with no bits left over the divisor is 64). Made
# by masters_patterns() in tests/oracles/csr.py; tests/test_csr.py holds the table to it
# and the verdicts to Go's parser. A lookalike anywhere else in the text denies too,
# never the reverse.
masters_patterns := [
	{"text": "BgNVBAoMDnN5c3RlbTptYXN0ZXJz", "tail": 0, "divisor": 64},
	{"text": "BgNVBAoTDnN5c3RlbTptYXN0ZXJz", "tail": 0, "divisor": 64},
	{"text": "BgNVBAoUDnN5c3RlbTptYXN0ZXJz", "tail": 0, "divisor": 64},
	{"text": "BgNVBAoWDnN5c3RlbTptYXN0ZXJz", "tail": 0, "divisor": 64},
	{"text": "BgNVBAoeHABzAHkAcwB0AGUAbQA6AG0AYQBzAHQAZQByAH", "tail": 3, "divisor": 4},
	{"text": "GA1UECgwOc3lzdGVtOm1hc3Rlcn", "tail": 3, "divisor": 4},
	{"text": "GA1UECh4cAHMAeQBzAHQAZQBtADoAbQBhAHMAdABlAHIAc", "tail": 3, "divisor": 16},
	{"text": "GA1UEChMOc3lzdGVtOm1hc3Rlcn", "tail": 3, "divisor": 4},
	{"text": "GA1UEChQOc3lzdGVtOm1hc3Rlcn", "tail": 3, "divisor": 4},
	{"text": "GA1UEChYOc3lzdGVtOm1hc3Rlcn", "tail": 3, "divisor": 4},
	{"text": "YDVQQKDA5zeXN0ZW06bWFzdGVyc", "tail": 3, "divisor": 16},
	{"text": "YDVQQKEw5zeXN0ZW06bWFzdGVyc", "tail": 3, "divisor": 16},
	{"text": "YDVQQKFA5zeXN0ZW06bWFzdGVyc", "tail": 3, "divisor": 16},
	{"text": "YDVQQKFg5zeXN0ZW06bWFzdGVyc", "tail": 3, "divisor": 16},
	{"text": "YDVQQKHhwAcwB5AHMAdABlAG0AOgBtAGEAcwB0AGUAcgBz", "tail": 0, "divisor": 64},
]

# (contains first: on OPA's Wasm runtime indexof_n is a call out to the host.)
masters_requested if {
	some pattern in masters_patterns
	contains(der_base64, pattern.text)
	some i in indexof_n(der_base64, pattern.text)
	next := substring(der_base64, i + count(pattern.text), 1)
	floor(indexof(base64_alphabet, next) / pattern.divisor) == pattern.tail
}

# CIS-5.1.7
system_masters contains [k8s.whole_object, "spec.request asks for a certificate in the group system:masters (subject O=system:masters)"] if {
	masters_requested
}
