package lib.k8s_test

import data.lib.k8s

pod(meta) := {"request": {
	"operation": "CREATE",
	"kind": {"kind": "Pod"},
	"object": {"metadata": meta, "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
}}

test_namespace_from_the_object if {
	k8s.namespace == "shop" with input as pod({"name": "a", "namespace": "shop"})
}

test_namespace_from_the_request_when_the_object_has_none if {
	k8s.namespace == "team" with input as object.union(pod({"name": "a"}), {"request": {"namespace": "team"}})
}

test_namespace_defaults_to_default if {
	k8s.namespace == "default" with input as pod({"name": "a"})
}

test_name_falls_back_to_generate_name if {
	k8s.resource == "Pod default/web-" with input as pod({"generateName": "web-"})
}

test_name_of_an_unnamed_object if {
	k8s.resource == "Pod default/<unnamed>" with input as pod({})
}

test_delete_is_not_reviewed if {
	not k8s.pod_write with input as object.union(pod({"name": "a"}), {"request": {"operation": "DELETE"}})
}

test_admin_exemption_by_namespace if {
	k8s.exempt_controls == {"NSA-1.1"} with input as pod({"name": "a", "namespace": "monitoring"})
		with data.config.exemptions as {"NSA-1.1": ["monitoring"], "CIS-5.2.2": ["other"]}
}

test_exemption_is_per_control if {
	not "CIS-5.2.2" in k8s.exempt_controls with input as pod({"name": "a", "namespace": "monitoring"})
		with data.config.exemptions as {"NSA-1.1": ["monitoring"]}
}

test_label_selector_operators if {
	web := pod({"name": "a", "labels": {"app": "web"}})
	k8s.selects_surely({}) with input as web
	k8s.selects_surely({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}) with input as web
	k8s.selects_surely({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}) with input as web
	not k8s.selects_surely({"matchLabels": {"app": "db"}}) with input as web
	not k8s.selects_surely({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}) with input as web
}

deployment(labels) := {"request": {
	"operation": "CREATE",
	"kind": {"kind": "Deployment"},
	"object": {"metadata": {"name": "web"}, "spec": {"template": {
		"metadata": {"labels": labels},
		"spec": {"containers": [{"name": "app", "image": "nginx"}]},
	}}},
}}

test_a_controller_label_has_an_unknown_value if {
	web := deployment({"app": "web", "pod-template-hash": "abc"})
	k8s.selects_surely({"matchExpressions": [{"key": "pod-template-hash", "operator": "Exists"}]}) with input as web
	not k8s.selects_possibly({"matchExpressions": [{"key": "pod-template-hash", "operator": "DoesNotExist"}]}) with input as web
	not k8s.selects_surely({"matchLabels": {"pod-template-hash": "abc"}}) with input as web
	k8s.selects_possibly({"matchLabels": {"pod-template-hash": "abc"}}) with input as web
	k8s.selects_possibly({"matchExpressions": [{"key": "pod-template-hash", "operator": "NotIn", "values": ["x"]}]}) with input as web
	not k8s.selects_possibly({"matchLabels": {"app": "db"}}) with input as web
}

test_matches_labels_operators if {
	labels := {"tier": "web", "rbac.example.com/aggregate": ""}
	k8s.matches_labels({}, labels)
	k8s.matches_labels({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}, labels)
	k8s.matches_labels({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, labels)
	k8s.matches_labels({"matchExpressions": [{"key": "rbac.example.com/aggregate", "operator": "Exists"}]}, labels)
	k8s.matches_labels({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, labels)
	not k8s.matches_labels({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, labels)
	not k8s.matches_labels({"matchLabels": {"tier": "db"}}, labels)
}
