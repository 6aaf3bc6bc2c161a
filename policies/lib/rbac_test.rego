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

# A ClusterRole of the cluster's own (replicated into data.kubernetes.clusterroles) is
# an aggregation source too, and replaces a bootstrapped one of the same name.
test_aggregates_the_clusters_own_cluster_roles if {
	review := {"request": {
		"operation": "CREATE",
		"kind": {"kind": "ClusterRole"},
		"object": {
			"kind": "ClusterRole",
			"metadata": {"name": "aggregator"},
			"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"team": "a"}}]},
		},
	}}
	own := {
		"metadata": {"name": "team-a-secrets", "labels": {"team": "a"}},
		"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
	}
	rbac.secret_access == {[
		{"label": "ClusterRole aggregator: "},
		"aggregated from ClusterRole team-a-secrets rules[0] grants get/list/watch on secrets",
	]} with input as review
		with data.kubernetes.clusterroles as {"team-a-secrets": own}
}
