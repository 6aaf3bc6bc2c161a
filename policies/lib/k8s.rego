# Shared helpers: where the pod spec sits in each pod-bearing kind, how resources and
# containers are named in deny messages, and how control exemptions are looked up.
# Every control package imports this instead of re-deriving the object layout.
package lib.k8s

template_kinds := {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"}

container_fields := ["containers", "initContainers", "ephemeralContainers"]

obj := input.request.object

kind := input.request.kind.kind

# Only writes are reviewed; DELETE and CONNECT carry no new configuration.
reviewed if input.request.operation in {"CREATE", "UPDATE"}

# The Pod and CronJob clauses compare input.request.kind.kind itself, not the kind rule,
# so that OPA's rule index skips them for every other kind instead of evaluating each.
pod_spec := obj.spec if input.request.kind.kind == "Pod"

pod_spec := obj.spec.template.spec if kind in template_kinds

pod_spec := obj.spec.jobTemplate.spec.template.spec if input.request.kind.kind == "CronJob"

pod_metadata := obj.metadata if input.request.kind.kind == "Pod"

pod_metadata := object.get(obj.spec.template, "metadata", {}) if kind in template_kinds

pod_metadata := object.get(obj.spec.jobTemplate.spec.template, "metadata", {}) if input.request.kind.kind == "CronJob"

spec_path := "spec" if input.request.kind.kind == "Pod"

spec_path := "spec.template.spec" if kind in template_kinds

spec_path := "spec.jobTemplate.spec.template.spec" if input.request.kind.kind == "CronJob"

# A manifest without a namespace is created in "default".
namespace := ns if {
	ns := obj.metadata.namespace
	ns != ""
} else := ns if {
	ns := input.request.namespace
	ns != ""
} else := "default"

name := n if {
	n := obj.metadata.name
	n != ""
} else := n if {
	n := obj.metadata.generateName
	n != ""
} else := "<unnamed>"

cluster_scoped_kinds := {"ClusterRole", "ClusterRoleBinding", "Namespace", "CertificateSigningRequest"}

resource := concat("", [kind, " ", name]) if kind in cluster_scoped_kinds

resource := concat("", [kind, " ", namespace, "/", name]) if not kind in cluster_scoped_kinds

# Namespaced objects are named namespace/name in allowlists, cluster-scoped ones by name.
qualified_name := name if kind in cluster_scoped_kinds

qualified_name := concat("/", [namespace, name]) if not kind in cluster_scoped_kinds

# Every container of the pod, whichever list it is in, with the path used in messages
# and the label its findings start with.
containers contains {"name": c.name, "field": f, "path": path, "spec": c, "label": concat("", [resource, ": container ", c.name, " (", path, "): "])} if {
	some f in container_fields
	some i, c in pod_spec[f]
	path := concat("", [spec_path, ".", f, "[", format_int(i, 10), "]"])
}

# What a finding about the object as a whole (not one container) is labelled with.
whole_object := {"label": concat("", [resource, ": "])}

# A control applies to a write of the kinds it reviews (pod_write here, rbac_write,
# csr_write, secret_write in their libraries) outside the namespaces the admin exempted
# for it: each deny rule asks both, `not k8s.exempt_controls["<id>"]` for the second.
# Exemptions live in the admin-owned config, never on the object itself.
pod_write if {
	reviewed
	pod_spec
}

# The controls exempted in this object's namespace, found once per decision rather
# than once per deny rule.
exempt_controls := {control |
	namespaces := object.get(data.config, "exemptions", {})[control]
	namespace in namespaces
}

# Settings a container inherits from the pod unless it sets them itself.
effective(c, field) := v if {
	v := c.spec.securityContext[field]
} else := v if {
	v := pod_spec.securityContext[field]
}

# Rego engines disagree on `not f(x) == v` when f(x) is undefined (OPA treats the whole
# expression as undefined); comparing inside a positive rule keeps them in step.
effective_is(c, field, value) if effective(c, field) == value

seccomp_type(c) := t if {
	t := effective(c, "seccompProfile").type
} else := ""

is_windows if pod_spec.os.name == "windows"

# Capabilities as the container runtime applies them (containerd and CRI-O upper-case a
# name and prefix CAP_ themselves). An added one counts in any spelling, CAP_ prefix
# included, since a runtime may grant it. A dropped one counts only if the runtime drops
# it: "net_raw" does, "CAP_NET_RAW" (dropped as CAP_CAP_NET_RAW) drops nothing.
# lib.pss compares names exactly instead, as Pod Security Admission does.
capability(x) := trim_prefix(upper(x), "CAP_")

added_capabilities(c) := {capability(x) | some x in c.spec.securityContext.capabilities.add}

dropped_capabilities(c) := {upper(x) |
	some x in c.spec.securityContext.capabilities.drop
	not startswith(upper(x), "CAP_")
}

# A resource.Quantity above zero ("0", "0m", "0.0Gi", "0e3" and 0 are zero). The API
# server rejects negative limits, so only zero needs telling apart. False rather than
# undefined otherwise: OPA remembers a function's result only when there is one, and the
# same absent limit (0) is asked about for each container, resource and level.
positive_quantity(q) if {
	is_number(q)
	q > 0
} else if {
	is_string(q)
	not regex.match(`^[+-]?(?:0+\.?0*|\.0+)(?:[eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$`, q)
} else := false

# The labels of the pods this object makes. A workload's controller adds labels its
# template does not state, with values not known before the pods exist (read from
# k8s.io/kubernetes v1.37.2): a Deployment's pod-template-hash (pkg/controller/
# deployment), a StatefulSet's controller-revision-hash, pod name and pod index
# (pkg/controller/statefulset), a DaemonSet's controller-revision-hash and
# pod-template-generation (pkg/controller/daemon), and a Job's controller uid, which the
# API server writes into the template beside the job name (generateSelector in
# pkg/registry/batch/job/strategy.go; a CronJob's jobs are named after their schedule
# time, so there the name is not known either), plus the completion index of an
# Indexed Job's pods (pkg/controller/job).
template_labels := object.get(pod_metadata, "labels", {})

controller_label_keys := {
	"Deployment": {"pod-template-hash"},
	"StatefulSet": {"controller-revision-hash", "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index"},
	"DaemonSet": {"controller-revision-hash", "pod-template-generation"},
}

job_name_keys := {"job-name", "batch.kubernetes.io/job-name"}

job_spec := obj.spec if input.request.kind.kind == "Job"

job_spec := obj.spec.jobTemplate.spec if input.request.kind.kind == "CronJob"

generated_job_selector if {
	job_spec
	not job_spec.manualSelector == true
}

unknown_label_keys contains key if some key in object.get(controller_label_keys, kind, set())

unknown_label_keys contains key if {
	generated_job_selector
	some key in {"controller-uid", "batch.kubernetes.io/controller-uid"}
}

unknown_label_keys contains key if {
	generated_job_selector
	not job_name
	some key in job_name_keys
}

unknown_label_keys contains "batch.kubernetes.io/job-completion-index" if job_spec.completionMode == "Indexed"

job_name := obj.metadata.name if input.request.kind.kind == "Job"

pod_labels := {key: value |
	some key, value in object.union(job_labels, template_labels)
	not key in unknown_label_keys
}

job_labels := {key: job_name | some key in job_name_keys} if generated_job_selector

job_labels := {} if not generated_job_selector

# A LabelSelector (matchLabels and matchExpressions, as in NetworkPolicy) or an Istio
# workload selector (matchLabels only) and the pods this object makes: surely when it
# matches them whatever values the unknown labels take, possibly when it matches them
# for some. {} matches every pod.
selects_surely(selector) if {
	every key, value in object.get(selector, "matchLabels", {}) {
		pod_labels[key] == value
	}
	every e in object.get(selector, "matchExpressions", []) {
		surely_holds(e)
	}
}

selects_possibly(selector) if {
	every key, value in object.get(selector, "matchLabels", {}) {
		possibly_equal(key, value)
	}
	every e in object.get(selector, "matchExpressions", []) {
		possibly_holds(e)
	}
}

possibly_equal(key, value) if pod_labels[key] == value

possibly_equal(key, _) if key in unknown_label_keys

surely_holds(e) if {
	e.operator == "In"
	pod_labels[e.key] in e.values
}

# NotIn holds for a missing key too. OPA makes `not labels[k] in values` undefined when
# the key is missing, so membership is asked in a positive helper.
surely_holds(e) if {
	e.operator == "NotIn"
	not e.key in unknown_label_keys
	not value_in(e)
}

surely_holds(e) if {
	e.operator == "Exists"
	label_exists(e.key)
}

surely_holds(e) if {
	e.operator == "DoesNotExist"
	not label_exists(e.key)
}

possibly_holds(e) if surely_holds(e)

possibly_holds(e) if {
	e.operator in {"In", "NotIn"}
	e.key in unknown_label_keys
}

value_in(e) if pod_labels[e.key] in e.values

label_exists(key) if pod_labels[key]

label_exists(key) if key in unknown_label_keys

# A LabelSelector against an object's own labels (a ClusterRole's, for aggregation);
# {} matches every object.
matches_labels(selector, labels) if {
	every key, value in object.get(selector, "matchLabels", {}) {
		labels[key] == value
	}
	every e in object.get(selector, "matchExpressions", []) {
		holds_on(e, labels)
	}
}

holds_on(e, labels) if {
	e.operator == "In"
	labels[e.key] in e.values
}

holds_on(e, labels) if {
	e.operator == "NotIn"
	not label_value_in(e, labels)
}

holds_on(e, labels) if {
	e.operator == "Exists"
	labels[e.key]
}

holds_on(e, labels) if {
	e.operator == "DoesNotExist"
	not labels[e.key]
}

label_value_in(e, labels) if labels[e.key] in e.values

# Cluster state as kube-mgmt replicates it: data.kubernetes.<resource>.<namespace>.<name>.
state(resource_name, ns) := s if {
	s := data.kubernetes[resource_name][ns]
} else := {}

# A violation is [subject, text]: the subject a container of k8s.containers or
# whole_object. Every control turns it into the message every engine returns,
# "[<control>] <subject label><text>", with one concat in its deny rule's head rather
# than a shared function: a user-function call per message cost about a sixth of the
# combined query's allocations in OPA (opa bench --benchmem). The control's id is a
# literal there and in its exemption lookup, not a rule: each reference to a rule is
# one more expression for OPA to evaluate, and those references were an eighth of the
# combined query's evaluations (tests/test_catalog.py holds each literal to the
# catalog). Messages are built with concat, not sprintf: rego-cpp quotes a %s argument
# that a builtin returned, which would make the engines disagree on message text.
