package lib.csr_test

import data.lib.csr

review(operation, kind) := {"request": {
	"operation": operation,
	"kind": {"kind": kind},
	"object": {"metadata": {"name": "alice"}, "spec": {"request": ""}},
}}

test_only_writes_of_certificate_signing_requests_are_reviewed if {
	csr.applies("CIS-5.1.7") with input as review("CREATE", "CertificateSigningRequest")
	not csr.applies("CIS-5.1.7") with input as review("DELETE", "CertificateSigningRequest")
	not csr.applies("CIS-5.1.7") with input as review("CREATE", "Pod")
}

# A cluster-scoped object is looked up under the namespace "default".
test_an_exemption_lifts_the_check if {
	not csr.applies("CIS-5.1.7") with input as review("CREATE", "CertificateSigningRequest")
		with data.config.exemptions as {"CIS-5.1.7": ["default"]}
}
