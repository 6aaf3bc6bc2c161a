package lib.rbac_test

import data.lib.rbac

role(name, ns) := {"request": {
	"operation": "CREATE",
	"kind": {"kind": "Role"},
	"object": {"metadata": {"name": name, "namespace": ns}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
}}

test_admin_allowlist_matches_namespace_and_name if {
	not rbac.role_under_review with input as role("reader", "monitoring")
		with data.config.rbac_allowlist as {"roles": ["monitoring/*"]}
	rbac.role_under_review with input as role("reader", "team-a")
		with data.config.rbac_allowlist as {"roles": ["monitoring/*"]}
}
