# RBAC checks (CIS-5.1.x). They review Roles, ClusterRoles and their bindings at
# admission; objects the admin allowlisted in data.config.rbac_allowlist pass.
package lib.rbac

import data.lib.k8s
import data.lib.rbac_defaults

role_kinds := {"Role", "ClusterRole"}

binding_kinds := {"RoleBinding", "ClusterRoleBinding"}

rbac_kinds := role_kinds | binding_kinds

rbac_write if {
	k8s.reviewed
	k8s.kind in rbac_kinds
}

allowlist := object.get(data.config, "rbac_allowlist", {})

# Kubernetes' own RBAC objects pass only as the API server bootstraps them: the exact
# name, the kubernetes.io/bootstrapping label and the same content (lib.rbac_defaults,
# read from kube-apiserver v1.37.2 by `python -m harness rbac-defaults --write`). A name
# alone (system:*, admin, cluster-admin) can be chosen by whoever creates the object.
bootstrap_default if {
	k8s.obj.metadata.labels["kubernetes.io/bootstrapping"] == "rbac-defaults"
	expected := rbac_defaults.objects[k8s.kind][k8s.qualified_name]
	bootstrap_content(k8s.obj) == expected
}

# Aggregated roles (admin, edit, view) get their rules from the aggregation controller,
# so their content is the aggregation rule; other objects compare rules or roleRef and
# subjects.
bootstrap_content(o) := {"aggregationRule": o.aggregationRule} if o.aggregationRule

bootstrap_content(o) := {"rules": object.get(o, "rules", [])} if {
	k8s.kind in role_kinds
	not o.aggregationRule
}

bootstrap_content(o) := {"roleRef": o.roleRef, "subjects": object.get(o, "subjects", [])} if k8s.kind in binding_kinds

# Objects of the admin's own that may hold what the controls deny, by name (glob).
allowlisted(names_key) if {
	some pattern in object.get(allowlist, names_key, [])
	glob.match(pattern, [], k8s.qualified_name)
}

role_under_review if {
	k8s.kind in role_kinds
	not bootstrap_default
	not allowlisted("roles")
}

# Subjects are checked on every binding the API server did not bootstrap, allowlisted
# or not: who is bound to cluster-admin or system:masters is the finding itself.
binding_under_review if {
	k8s.kind in binding_kinds
	not bootstrap_default
}

# A rule matches a verb, a resource of an API group when it names it or uses "*".
grants(rule, verbs, resources, groups) if {
	some verb in rule.verbs
	verb in (verbs | {"*"})
	some resource in rule.resources
	resource in (resources | {"*"})
	some group in object.get(rule, "apiGroups", [""])
	group in (groups | {"*"})
}

# The rules a role holds, each with where it comes from. A ClusterRole with an
# aggregationRule holds what kube-controller-manager's ClusterRole aggregation
# controller gives it, whatever its own rules say (they are replaced): the rules of
# every other ClusterRole whose labels one of its selectors matches ({} matches every
# ClusterRole, cluster-admin included; syncClusterRole in
# pkg/controller/clusterroleaggregation, k8s.io/kubernetes v1.37.2). The sources are the
# bootstrapped ClusterRoles as aggregated (rbac_defaults.cluster_roles) and the
# cluster's own, where they are replicated into data.kubernetes.clusterroles.
rules contains [concat("", ["rules[", format_int(i, 10), "]"]), rule] if {
	role_under_review
	not k8s.obj.aggregationRule
	some i, rule in k8s.obj.rules
}

rules contains [concat("", ["aggregated from ClusterRole ", name, " rules[", format_int(i, 10), "]"]), rule] if {
	some name, source in rbac_defaults.cluster_roles
	not live_cluster_roles[name]
	aggregates(name, source.labels)
	some i, rule in source.rules
}

rules contains [concat("", ["aggregated from ClusterRole ", name, " rules[", format_int(i, 10), "]"]), rule] if {
	some name, source in live_cluster_roles
	aggregates(name, object.get(source, ["metadata", "labels"], {}))
	some i, rule in source.rules
}

live_cluster_roles := object.get(data.kubernetes, "clusterroles", {})

# The role under review draws on ClusterRole name (labelled so).
aggregates(name, labels) if {
	role_under_review
	name != k8s.obj.metadata.name
	some selector in k8s.obj.aggregationRule.clusterRoleSelectors
	k8s.matches_labels(selector, labels)
}

finding(where, text) := [k8s.whole_object, concat("", [where, " ", text])]

# CIS-5.1.1
cluster_admin_bindings contains [k8s.whole_object, concat("", ["binds cluster-admin to ", s.kind, " ", s.name, ", which is not in the allowlist"])] if {
	binding_under_review
	k8s.obj.roleRef.kind == "ClusterRole"
	k8s.obj.roleRef.name == "cluster-admin"
	some s in k8s.obj.subjects
	not {"kind": s.kind, "name": s.name} in {{"kind": a.kind, "name": a.name} | some a in object.get(allowlist, "cluster_admin_subjects", [])}
}

# CIS-5.1.2
secret_access contains finding(where, "grants get/list/watch on secrets") if {
	some [where, rule] in rules
	grants(rule, {"get", "list", "watch"}, {"secrets"}, {""})
}

# CIS-5.1.3: "*" anywhere it widens a rule, including "*/subresource" (every
# resource's subresource) and non-resource URLs ending in "*".
wildcards contains finding(where, concat("", ["uses \"*\" in ", field])) if {
	some [where, rule] in rules
	some field in ["verbs", "resources", "apiGroups"]
	some value in object.get(rule, field, [])
	wildcard(field, value)
}

wildcards contains finding(where, "uses \"*\" in nonResourceURLs") if {
	some [where, rule] in rules
	some url in object.get(rule, "nonResourceURLs", [])
	endswith(url, "*")
}

wildcard(_, "*")

wildcard("resources", value) if startswith(value, "*/")

# CIS-5.1.4: pods, and the workloads that create pods, each in its own API group (the
# authorizer matches a rule's groups and resources together, so pods in apps is no pod).
pod_creators := {
	"": {"pods", "replicationcontrollers"},
	"apps": {"deployments", "replicasets", "statefulsets", "daemonsets"},
	"batch": {"jobs", "cronjobs"},
}

pod_creation contains finding(where, "grants create on pods or pod-creating workloads") if {
	some [where, rule] in rules
	some group, resources in pod_creators
	grants(rule, {"create"}, resources, {group})
}

# CIS-5.1.7
system_masters contains [k8s.whole_object, concat("", ["subjects[", format_int(i, 10), "] is the group system:masters"])] if {
	binding_under_review
	some i, s in k8s.obj.subjects
	s.kind == "Group"
	s.name == "system:masters"
}

# CIS-5.1.8
escalation contains finding(where, concat("", ["grants ", verb])) if {
	some [where, rule] in rules
	some verb, by_group in escalation_grants
	some group, resources in by_group
	grants(rule, {verb}, resources, {group})
}

# Verb -> API group -> resources, as the authorizer checks them: bind and escalate on
# RBAC roles, impersonate on users, groups and service accounts (core group).
escalation_grants := {
	"bind": {"rbac.authorization.k8s.io": {"roles", "clusterroles"}},
	"escalate": {"rbac.authorization.k8s.io": {"roles", "clusterroles"}},
	"impersonate": {"": {"users", "groups", "serviceaccounts"}},
}
