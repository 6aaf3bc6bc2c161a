# Checks over a whole cluster's state (harness audit). The input is
# {"objects": {<Kind>: [objects...]}}, collected from a cluster or a directory.
package lib.audit

# Helper names are unique across the library: rego-cpp 1.5.2 crashed while compiling
# when this package reused the names of helpers in lib.node and lib.rbac.

objects_of(kind) := object.get(input.objects, kind, [])

cluster_finding(control, text) := concat("", ["[", control, "] cluster: ", text])

system_namespaces := {"kube-system", "kube-public", "kube-node-lease"}

# CIS-5.2.1: something enforces policy on pods.
webhook_covers_pods if {
	some config in objects_of("ValidatingWebhookConfiguration")
	some hook in config.webhooks
	some rule in hook.rules
	some resource in rule.resources
	resource in {"pods", "*"}
	some operation in rule.operations
	operation in {"CREATE", "*"}
}

admission_policy_covers_pods if {
	some binding in objects_of("ValidatingAdmissionPolicyBinding")
	some policy in objects_of("ValidatingAdmissionPolicy")
	policy.metadata.name == binding.spec.policyName
	some rule in policy.spec.matchConstraints.resourceRules
	some resource in rule.resources
	resource in {"pods", "*"}
}

user_namespaces := [ns | some ns in objects_of("Namespace"); not ns.metadata.name in system_namespaces]

psa_enforced(ns) if ns.metadata.labels["pod-security.kubernetes.io/enforce"] in {"baseline", "restricted"}

psa_everywhere if {
	count(user_namespaces) > 0
	count([ns | some ns in user_namespaces; psa_enforced(ns)]) == count(user_namespaces)
}

# CIS-5.3.1: which network plugin runs, from its workloads' names. The list can only be
# as current as this file: a plugin it does not know is reported, never assumed. kindnet
# is known by name but not by verdict: kind v0.24 (August 2024) put kube-network-policies
# into kindnetd, so whether it enforces depends on the release, which the name cannot tell.
cni_support := {
	"calico": true, "cilium": true, "weave-net": true, "antrea": true,
	"kube-router": true, "canal": true, "flannel": false,
}

version_dependent_cni := {"kindnet"}

detected_cni contains plugin if {
	some kind in ["DaemonSet", "Deployment"]
	some workload in objects_of(kind)
	some plugin in object.keys(cni_support) | version_dependent_cni
	indexof(workload.metadata.name, plugin) >= 0
}

enforcing_cni_detected if {
	some plugin in detected_cni
	cni_support[plugin]
}

undecided_cni := detected_cni & version_dependent_cni
