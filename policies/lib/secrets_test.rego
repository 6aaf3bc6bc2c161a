package lib.secrets_test

import data.lib.k8s
import data.lib.secrets

review(operation, kind) := {"request": {
	"operation": operation,
	"kind": {"kind": kind},
	"namespace": "payments",
	"object": {"metadata": {"name": "db", "namespace": "payments"}},
}}

test_only_writes_of_secrets_are_reviewed if {
	secrets.secret_write with input as review("CREATE", "Secret")
	secrets.secret_write with input as review("UPDATE", "Secret")
	not secrets.secret_write with input as review("DELETE", "Secret")
	not secrets.secret_write with input as review("CREATE", "ConfigMap")
}

test_an_exemption_lifts_the_check if {
	"CIS-5.4.2" in k8s.exempt_controls with input as review("CREATE", "Secret")
		with data.config.exemptions as {"CIS-5.4.2": ["payments"]}
}
