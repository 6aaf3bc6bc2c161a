package lib.secrets_test

import data.lib.secrets

review(operation, kind) := {"request": {
	"operation": operation,
	"kind": {"kind": kind},
	"namespace": "payments",
	"object": {"metadata": {"name": "db", "namespace": "payments"}},
}}

test_only_writes_of_secrets_are_reviewed if {
	secrets.applies("CIS-5.4.2") with input as review("CREATE", "Secret")
	secrets.applies("CIS-5.4.2") with input as review("UPDATE", "Secret")
	not secrets.applies("CIS-5.4.2") with input as review("DELETE", "Secret")
	not secrets.applies("CIS-5.4.2") with input as review("CREATE", "ConfigMap")
}

test_an_exemption_lifts_the_check if {
	not secrets.applies("CIS-5.4.2") with input as review("CREATE", "Secret")
		with data.config.exemptions as {"CIS-5.4.2": ["payments"]}
}
