package lib.checks_test

import data.lib.checks

# Cases of NSA-2.6 that fixtures cannot hold: a mesh-wide PeerAuthentication lives in
# the root namespace and would apply to every other fixture's pods, and Istio's ignored
# namespaces are other controls' fixture namespaces.
web := {"request": {
	"operation": "CREATE",
	"kind": {"kind": "Pod"},
	"object": {
		"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
		"spec": {"containers": [{"name": "app", "image": "nginx"}]},
	},
}}

state(policies) := {
	"namespaces": {"shop": {"metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}}}},
	"peerauthentications": policies,
}

pa(name, ns, mode) := {"metadata": {"name": name, "namespace": ns}, "spec": {"mtls": {"mode": mode}}}

test_mesh_wide_strict_applies if {
	count(checks.no_strict_mtls) == 0 with input as web
		with data.kubernetes as state({"istio-system": {"mesh": pa("mesh", "istio-system", "STRICT")}})
}

test_namespace_level_overrides_mesh_wide if {
	checks.mtls_mode == "PERMISSIVE" with input as web
		with data.kubernetes as state({
			"istio-system": {"mesh": pa("mesh", "istio-system", "STRICT")},
			"shop": {"default": pa("default", "shop", "PERMISSIVE")},
		})
}

test_unset_namespace_level_inherits_mesh_wide if {
	checks.mtls_source == "PeerAuthentication istio-system/mesh, mesh-wide" with input as web
		with data.kubernetes as state({
			"istio-system": {"mesh": pa("mesh", "istio-system", "STRICT")},
			"shop": {"default": pa("default", "shop", "UNSET")},
		})
}

test_ignored_namespace_gets_no_sidecar if {
	"Istio never injects into namespace kube-public" in checks.no_sidecar with input as json.patch(web, [{"op": "replace", "path": "/request/object/metadata/namespace", "value": "kube-public"}])
		with data.kubernetes as state({})
}

# Without the default revision installed, the default webhooks (istio-injection=enabled,
# sidecar.istio.io/inject=true) do not exist.
test_default_webhooks_need_the_default_revision if {
	not checks.webhook_selects with input as web
		with data.kubernetes as state({})
		with data.config.istio as {"revisions": ["canary"]}
	opted_in := json.patch(web, [{"op": "add", "path": "/request/object/metadata/labels/sidecar.istio.io~1inject", "value": "true"}])
	not checks.webhook_selects with input as opted_in
		with data.kubernetes as {"namespaces": {"shop": {"metadata": {"name": "shop"}}}}
		with data.config.istio as {"revisions": ["canary"]}
	checks.webhook_selects with input as opted_in
		with data.kubernetes as {"namespaces": {"shop": {"metadata": {"name": "shop"}}}}
}

# NSA-2.8 off the cloud (config cloud_metadata.on_cloud false): a namespace without any
# NetworkPolicy is no finding, as on the thesis's self-deployed cluster.
test_metadata_endpoints_off_the_cloud if {
	count(checks.metadata_reachable) == 0 with input as web
		with data.kubernetes as {}
		with data.config.cloud_metadata as {"on_cloud": false, "addresses": ["169.254.169.254"]}
}

test_metadata_endpoints_on_the_cloud if {
	count(checks.metadata_reachable) == 1 with input as web
		with data.kubernetes as {}
		with data.config.cloud_metadata as {"on_cloud": true, "addresses": ["169.254.169.254"]}
}
