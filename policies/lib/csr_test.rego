package lib.csr_test

import data.lib.csr
import data.lib.k8s

review(operation, kind) := {"request": {
	"operation": operation,
	"kind": {"kind": kind},
	"object": {"metadata": {"name": "alice"}, "spec": {"request": ""}},
}}

test_only_writes_of_certificate_signing_requests_are_reviewed if {
	csr.csr_write with input as review("CREATE", "CertificateSigningRequest")
	not csr.csr_write with input as review("DELETE", "CertificateSigningRequest")
	not csr.csr_write with input as review("CREATE", "Pod")
}

# A cluster-scoped object is looked up under the namespace "default".
test_an_exemption_lifts_the_check if {
	"CIS-5.1.7" in k8s.exempt_controls with input as review("CREATE", "CertificateSigningRequest")
		with data.config.exemptions as {"CIS-5.1.7": ["default"]}
}
