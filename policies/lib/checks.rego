# The checks behind the controls. Several controls of the two frameworks share a
# meaning (NSA-1.1 and CIS-5.2.7, for example); each keeps its own package and deny
# messages, and both call the one definition here.
package lib.checks

# Windows pods (spec.os.name: windows): kube-apiserver v1.37 refuses the Linux-only
# fields on them (validateWindows in pkg/apis/core/validation/validation.go: seccomp,
# SELinux, AppArmor, capabilities, readOnlyRootFilesystem, privileged,
# allowPrivilegeEscalation, procMount, runAsUser, hostPID, hostIPC ...), so a check that
# demands one of them cannot be met there and asks `not k8s.is_windows` (a check that
# only forbids a value needs no guard: the value cannot occur); the catalog's
# not_on_windows says so per control, and `check` reports those as not applicable.

import data.lib.cidr
import data.lib.images
import data.lib.k8s

# NSA-1.1, CIS-5.2.7
run_as_root contains [c, "securityContext.runAsNonRoot must be true (on the container or the pod)"] if {
	some c in k8s.containers
	not k8s.effective_is(c, "runAsNonRoot", true)
}

run_as_root contains [c, "securityContext.runAsUser must not be 0"] if {
	some c in k8s.containers
	k8s.effective(c, "runAsUser") == 0
}

# NSA-1.2
mutable_root_filesystem contains [c, "securityContext.readOnlyRootFilesystem must be true"] if {
	not k8s.is_windows
	some c in k8s.containers
	not c.spec.securityContext.readOnlyRootFilesystem == true
}

# NSA-1.3: the registry each pulled image comes from, as the runtime resolves it
# (lib.images), must be in the admin's trusted set, matched exactly.
trusted_registries := {r | some r in data.config.trusted_registries}

untrusted_registry contains [c, concat("", [where, "image ", image, " ", problem])] if {
	some [c, where, image] in images.pulls
	problem := registry_problem(image)
}

# Why the image is refused: not a reference the runtime would pull, or pulled from a
# registry outside the trusted set. One function, so each image is parsed once.
registry_problem(image) := why if {
	why := images.invalid(image)
} else := concat("", ["is from registry ", reg, ", which is not trusted (trusted: ", concat(", ", sort(trusted_registries)), ")"]) if {
	reg := images.registry(image)
	not reg in trusted_registries
}

# NSA-1.5, CIS-5.1.6: a token reaches the pod by automount (unless the pod sets false)
# or by a projected serviceAccountToken volume, which automount: false does not stop.
# (With automount on, the API server adds such a volume itself; the first finding
# already covers it.)
token_automount contains [k8s.whole_object, concat("", [k8s.spec_path, ".automountServiceAccountToken must be false"])] if {
	not k8s.pod_spec.automountServiceAccountToken == false
}

token_automount contains [k8s.whole_object, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, ") projects a service account token"])] if {
	k8s.pod_spec.automountServiceAccountToken == false
	some i, v in k8s.pod_spec.volumes
	some source in v.projected.sources
	source.serviceAccountToken
}

# NSA-1.6
sandbox_classes := {r | some r in data.config.sandbox_runtime_classes}

confined_types := {"RuntimeDefault", "Localhost"}

sandboxed if k8s.pod_spec.runtimeClassName in sandbox_classes

unhardened contains [c, "seccompProfile.type Unconfined is never allowed"] if {
	some c in k8s.containers
	k8s.seccomp_type(c) == "Unconfined"
}

# Explicit Unconfined at pod level denies even when every container overrides it.
unhardened contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.seccompProfile.type Unconfined is never allowed"])] if {
	k8s.pod_spec.securityContext.seccompProfile.type == "Unconfined"
}

unhardened contains [c, msg] if {
	not k8s.is_windows
	not sandboxed
	some c in k8s.containers
	not k8s.seccomp_type(c) in confined_types
	k8s.seccomp_type(c) != "Unconfined"
	msg := concat("", ["needs a sandbox runtimeClassName (", concat(", ", sort(sandbox_classes)), ") or a RuntimeDefault/Localhost seccompProfile"])
}

# NSA-2.1, CIS-5.6.1, CIS-5.6.4
system_namespaces := {"kube-system", "kube-public", "default"}

in_namespace(reserved) := [k8s.whole_object, concat("", ["namespace ", k8s.namespace, " is reserved; deploy workloads into a namespace of their own"])] if {
	k8s.namespace in reserved
}

# CIS-5.3.2: the namespace has a NetworkPolicy at all.
no_network_policy contains [k8s.whole_object, concat("", ["namespace ", k8s.namespace, " has no NetworkPolicy"])] if {
	count(k8s.state("networkpolicies", k8s.namespace)) == 0
}

# NSA-2.2: the pod is isolated by default in both directions. Some NetworkPolicy that
# selects it names the direction in its policyTypes, and no such policy lets all
# traffic of that direction through (a rule with no peers and no ports). Policies are
# read as the API server stores them (model.defaulting offline): policyTypes always
# set, podSelector always present, empty lists omitted. A policy isolates the pod only
# if its selector matches whatever values the labels its controller adds take
# (k8s.selects_surely); one that may select it counts for letting all traffic through.
directions := {"Ingress": "ingress", "Egress": "egress"}

# [direction, policy name] for each policy that selects the pod and isolates it.
isolating contains [direction, name] if {
	some name, np in k8s.state("networkpolicies", k8s.namespace)
	k8s.selects_surely(np.spec.podSelector)
	some direction in np.spec.policyTypes
}

no_default_deny contains [k8s.whole_object, concat("", ["no NetworkPolicy in namespace ", k8s.namespace, " selects this pod for ", direction, " (a default deny)"])] if {
	some direction, _ in directions
	not isolated(direction)
}

isolated(direction) if {
	some [isolated_direction, _] in isolating
	isolated_direction == direction
}

no_default_deny contains [k8s.whole_object, concat("", ["NetworkPolicy ", k8s.namespace, "/", name, " allows all ", direction, " traffic of this pod (", field, "[", format_int(i, 10), "] has no peers and no ports)"])] if {
	some direction, field in directions
	some name, np in k8s.state("networkpolicies", k8s.namespace)
	direction in np.spec.policyTypes
	k8s.selects_possibly(np.spec.podSelector)
	some i, rule in np.spec[field]
	not rule[peer_field[field]]
	not rule.ports
}

peer_field := {"ingress": "from", "egress": "to"}

# NSA-2.8: on a cloud, the pod cannot reach the instance metadata endpoints
# (config cloud_metadata). NetworkPolicy as the API stores it and a plugin enforces it
# (networking/v1 types.go): a pod no policy isolates for Egress reaches every address;
# an isolated pod reaches an address when an egress rule of a policy that may select it
# lets it through: no peers (every destination), or an ipBlock whose cidr holds the
# address and no except does (podSelector and namespaceSelector peers are pods, and an
# endpoint is none); and no ports (every port), or a port entry of protocol TCP (the
# default) whose port is absent (every port), 80, or a range from port to endPort that
# holds 80. A named port names a container port of the destination pod, so it never
# matches an endpoint. No NetworkPolicy applies to a pod on the host network.
metadata_endpoint_port := 80

cloud_config := object.get(data.config, "cloud_metadata", {})

metadata_addresses := object.get(cloud_config, "addresses", []) if object.get(cloud_config, "on_cloud", false) == true

metadata_addresses := [] if not object.get(cloud_config, "on_cloud", false) == true

metadata_reachable contains [k8s.whole_object, "it runs on the host network, where no NetworkPolicy applies: it reaches the cloud metadata endpoints as its node does"] if {
	count(metadata_addresses) > 0
	k8s.pod_spec.hostNetwork == true
}

metadata_reachable contains [k8s.whole_object, concat("", ["no NetworkPolicy in namespace ", k8s.namespace, " isolates this pod's egress, so it reaches the cloud metadata endpoints (", concat(", ", metadata_addresses), ")"])] if {
	count(metadata_addresses) > 0
	not isolated("Egress")
}

metadata_reachable contains [k8s.whole_object, concat("", ["NetworkPolicy ", k8s.namespace, "/", name, " egress[", format_int(i, 10), "] lets this pod reach the cloud metadata endpoint ", address, " on 80/TCP"])] if {
	some address in metadata_addresses
	some name, np in k8s.state("networkpolicies", k8s.namespace)
	"Egress" in np.spec.policyTypes
	k8s.selects_possibly(np.spec.podSelector)
	some i, rule in object.get(np.spec, "egress", [])
	reaches_address(rule, address)
	reaches_port(rule)
}

reaches_address(rule, _) if count(object.get(rule, "to", [])) == 0

reaches_address(rule, address) if {
	some peer in rule.to
	cidr.includes(peer.ipBlock.cidr, address)
	not excepted(peer.ipBlock, address)
}

excepted(block, address) if {
	some except in object.get(block, "except", [])
	cidr.includes(except, address)
}

reaches_port(rule) if count(object.get(rule, "ports", [])) == 0

reaches_port(rule) if {
	some entry in rule.ports
	object.get(entry, "protocol", "TCP") == "TCP"
	port_holds(entry, metadata_endpoint_port)
}

port_holds(entry, _) if object.get(entry, "port", null) == null

port_holds(entry, port) if {
	is_number(entry.port)
	entry.port <= port
	port <= object.get(entry, "endPort", entry.port)
}

# NSA-2.6: Istio strict mTLS, as Istio decides it. The pod gets a sidecar (Istio's
# injection webhooks select it by label, case-sensitively, and its injector agrees: only
# the exact value false declines, true injects, and no value or any other value falls
# back to the default policy, enabled), its effective PeerAuthentication mode is STRICT
# on every port, and no inbound port is left outside the sidecar. Read from istio.io/istio: the injection webhooks' selectors
# (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml),
# injectRequired and IgnoredNamespaces (pkg/kube/inject), ComposePeerAuthentication
# (pilot/pkg/security/authn/policy_applier.go). The admin config's istio.revisions names
# the revisions and tags installed (default: the default revision), istio.root_namespace
# the mesh's root namespace (default istio-system).
istio_config := object.get(data.config, "istio", {})

istio_revisions := {r | some r in object.get(istio_config, "revisions", ["default"])}

root_namespace := object.get(istio_config, "root_namespace", "istio-system")

no_strict_mtls contains [k8s.whole_object, concat("", ["the pod gets no Istio sidecar (", why, ")"])] if {
	some why in no_sidecar
}

no_strict_mtls contains [k8s.whole_object, concat("", ["Istio's mtls mode for this pod is ", mtls_mode, " (", mtls_source, ")"])] if {
	mtls_mode != "STRICT"
}

no_strict_mtls contains [k8s.whole_object, concat("", ["PeerAuthentication ", k8s.namespace, "/", workload_policy.metadata.name, " sets port ", port, " to ", mode])] if {
	some port, setting in object.get(workload_policy.spec, "portLevelMtls", {})
	mode := object.get(setting, "mode", "UNSET")
	not mode in {"STRICT", "UNSET"}
}

no_strict_mtls contains [k8s.whole_object, concat("", ["annotation ", key, " leaves inbound ports outside the sidecar (", value, ")"])] if {
	some key, value in object.get(k8s.pod_metadata, "annotations", {})
	bypasses_sidecar(key, value)
}

bypasses_sidecar("traffic.sidecar.istio.io/excludeInboundPorts", value) if trim_space(value) != ""

bypasses_sidecar("traffic.sidecar.istio.io/includeInboundPorts", value) if trim_space(value) != "*"

namespace_labels := object.get(k8s.state("namespaces", k8s.namespace), ["metadata", "labels"], {})

# Why no sidecar: no injection webhook selects the pod, or the injector declines.
no_sidecar contains "it runs on the host network" if k8s.pod_spec.hostNetwork == true

no_sidecar contains concat("", ["Istio never injects into namespace ", k8s.namespace]) if {
	k8s.namespace in {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
}

no_sidecar contains "sidecar.istio.io/inject is false" if inject_setting == "false"

no_sidecar contains "no injection webhook selects it (namespace label istio-injection=enabled or istio.io/rev=<an installed revision>, or pod label sidecar.istio.io/inject=true or istio.io/rev)" if {
	inject_setting != "false"
	not webhook_selects
}

# The pod's label wins over the older annotation (injectRequired in
# istio.io/istio v0.0.0-20260827124520-eed52ebb66ad reads exactly "true" and "false").
inject_setting := v if {
	v := k8s.pod_labels["sidecar.istio.io/inject"]
} else := v if {
	v := object.get(k8s.pod_metadata, "annotations", {})["sidecar.istio.io/inject"]
} else := ""

# The four webhooks of an installation (rev.namespace, rev.object per revision;
# namespace, object for the default one). A key that is present with any value, even
# "", exists; values are compared exactly.
webhook_selects if {
	namespace_labels["istio.io/rev"] in istio_revisions
	not namespace_labels["istio-injection"]
	not k8s.pod_labels["sidecar.istio.io/inject"] == "false"
}

webhook_selects if {
	not namespace_labels["istio.io/rev"]
	not namespace_labels["istio-injection"]
	not k8s.pod_labels["sidecar.istio.io/inject"] == "false"
	k8s.pod_labels["istio.io/rev"] in istio_revisions
}

webhook_selects if {
	"default" in istio_revisions
	namespace_labels["istio-injection"] == "enabled"
	not k8s.pod_labels["sidecar.istio.io/inject"] == "false"
}

webhook_selects if {
	"default" in istio_revisions
	not namespace_labels["istio-injection"]
	not namespace_labels["istio.io/rev"]
	k8s.pod_labels["sidecar.istio.io/inject"] == "true"
	not k8s.pod_labels["istio.io/rev"]
}

# ComposePeerAuthentication: the oldest mesh-level (root namespace, no selector labels),
# namespace-level and workload-level (selector labels all on the pod) policy each; a
# mode UNSET (or no mtls) inherits from the wider one; PERMISSIVE when none sets one.
# Oldest: creationTimestamp, then name, as Istio sorts them.
mesh_policy := oldest([pa | some pa in k8s.state("peerauthentications", root_namespace); namespace_wide(pa)])

namespace_policy := oldest([pa | some pa in k8s.state("peerauthentications", k8s.namespace); namespace_wide(pa)]) if {
	k8s.namespace != root_namespace
}

workload_policy := oldest([pa |
	some pa in k8s.state("peerauthentications", k8s.namespace)
	not namespace_wide(pa)
	k8s.selects_surely({"matchLabels": pa.spec.selector.matchLabels})
]) if k8s.namespace != root_namespace

namespace_wide(pa) if count(object.get(pa, ["spec", "selector", "matchLabels"], {})) == 0

oldest(policies) := sorted[0][2] if {
	sorted := sort([[object.get(pa.metadata, "creationTimestamp", ""), pa.metadata.name, pa] | some pa in policies])
	count(sorted) > 0
}

mode_of(pa) := m if {
	m := pa.spec.mtls.mode
	m != "UNSET"
}

mtls_mode := m if {
	m := mode_of(workload_policy)
} else := m if {
	m := mode_of(namespace_policy)
} else := m if {
	m := mode_of(mesh_policy)
} else := "PERMISSIVE"

mtls_source := concat("", ["PeerAuthentication ", k8s.namespace, "/", workload_policy.metadata.name]) if {
	mode_of(workload_policy)
} else := concat("", ["PeerAuthentication ", k8s.namespace, "/", namespace_policy.metadata.name]) if {
	mode_of(namespace_policy)
} else := concat("", ["PeerAuthentication ", root_namespace, "/", mesh_policy.metadata.name, ", mesh-wide"]) if {
	mode_of(mesh_policy)
} else := "no PeerAuthentication sets one; Istio's default"

# NSA-2.3. Ephemeral containers cannot carry resources, so only the other lists count.
# A limit of zero bounds nothing (the kubelet sets no cgroup limit for it); a pod-level
# limit (spec.resources, v1.34+) or a LimitRange default bounds every container.
unbounded_resources contains [k8s.whole_object, concat("", ["namespace ", k8s.namespace, " has no ResourceQuota"])] if {
	count(k8s.state("resourcequotas", k8s.namespace)) == 0
}

unbounded_resources contains [c, concat("", ["resources.limits.", r, " must be set to more than zero (no pod-level limit or LimitRange default in namespace ", k8s.namespace, " supplies one)"])] if {
	some c in k8s.containers
	c.field != "ephemeralContainers"
	some r in ["cpu", "memory"]
	not k8s.positive_quantity(object.get(c.spec, ["resources", "limits", r], 0))
	not k8s.positive_quantity(object.get(k8s.pod_spec, ["resources", "limits", r], 0))
	not limit_range_default(r)
}

limit_range_default(r) if {
	some lr in k8s.state("limitranges", k8s.namespace)
	some item in lr.spec.limits
	item.type == "Container"
	k8s.positive_quantity(item["default"][r])
}

# NSA-4.1.3
no_audit_seccomp contains [c, "seccompProfile must be type Localhost with a localhostProfile (an audit profile)"] if {
	not k8s.is_windows
	some c in k8s.containers
	not audit_profile(c)
}

audit_profile(c) if {
	p := k8s.effective(c, "seccompProfile")
	p.type == "Localhost"
	p.localhostProfile != ""
}

# CIS-5.1.5
default_service_account contains [k8s.whole_object, concat("", [k8s.spec_path, ".serviceAccountName must name a dedicated service account, not default"])] if {
	object.get(k8s.pod_spec, "serviceAccountName", "") in {"", "default"}
}

# CIS-5.2.2
privileged contains [c, "securityContext.privileged must not be true"] if {
	some c in k8s.containers
	c.spec.securityContext.privileged == true
}

# CIS-5.2.3, CIS-5.2.4, CIS-5.2.5
host_namespace(field) := [k8s.whole_object, concat("", [k8s.spec_path, ".", field, " must not be true"])] if {
	k8s.pod_spec[field] == true
}

# CIS-5.2.6
privilege_escalation contains [c, "securityContext.allowPrivilegeEscalation must be false"] if {
	not k8s.is_windows
	some c in k8s.containers
	not c.spec.securityContext.allowPrivilegeEscalation == false
}

# CIS-5.2.8
net_raw contains [c, "securityContext.capabilities.drop must include NET_RAW or ALL"] if {
	not k8s.is_windows
	some c in k8s.containers
	count({"NET_RAW", "ALL"} & k8s.dropped_capabilities(c)) == 0
}

net_raw contains [c, "securityContext.capabilities.add must not include NET_RAW"] if {
	some c in k8s.containers
	"NET_RAW" in k8s.added_capabilities(c)
}

# CIS-5.2.9
added_capabilities contains [c, concat("", ["securityContext.capabilities.add must not include ", cap])] if {
	some c in k8s.containers
	some cap in k8s.added_capabilities(c)
	cap != "NET_BIND_SERVICE"
}

# CIS-5.2.10
kept_capabilities contains [c, "securityContext.capabilities.drop must include ALL"] if {
	not k8s.is_windows
	some c in k8s.containers
	not "ALL" in k8s.dropped_capabilities(c)
}

# CIS-5.2.11
host_process contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.windowsOptions.hostProcess must not be true"])] if {
	k8s.pod_spec.securityContext.windowsOptions.hostProcess == true
}

host_process contains [c, "securityContext.windowsOptions.hostProcess must not be true"] if {
	some c in k8s.containers
	c.spec.securityContext.windowsOptions.hostProcess == true
}

# CIS-5.2.12
host_path contains [k8s.whole_object, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, ") must not be a hostPath volume"])] if {
	some i, v in k8s.pod_spec.volumes
	v.hostPath
}

# CIS-5.2.13
host_port contains [c, concat("", ["ports[", format_int(i, 10), "].hostPort must not be set (is ", format_int(p.hostPort, 10), ")"])] if {
	some c in k8s.containers
	some i, p in c.spec.ports
	host_port_set(p)
}

host_port_set(p) if {
	is_number(p.hostPort)
	p.hostPort != 0
}

# On the host network the API server defaults hostPort to containerPort.
host_port contains [c, concat("", ["ports[", format_int(i, 10), "] binds host port ", format_int(p.containerPort, 10), " (hostNetwork: hostPort defaults to containerPort)"])] if {
	k8s.pod_spec.hostNetwork == true
	some c in k8s.containers
	some i, p in c.spec.ports
	not host_port_set(p)
	is_number(p.containerPort)
}

# CIS-5.6.2
unconfined_seccomp contains [c, "seccompProfile.type must be RuntimeDefault or Localhost (on the container or the pod)"] if {
	not k8s.is_windows
	some c in k8s.containers
	not k8s.seccomp_type(c) in confined_types
}

# CIS-5.6.3
no_security_context contains [c, "needs a securityContext (neither the container nor the pod sets one)"] if {
	count(object.get(k8s.pod_spec, "securityContext", {})) == 0
	some c in k8s.containers
	count(object.get(c.spec, "securityContext", {})) == 0
}

# CIS-5.4.1
secret_env contains [c, concat("", ["env[", format_int(i, 10), "] (", e.name, ") takes secret ", e.valueFrom.secretKeyRef.name, " as an environment variable; mount it as a file"])] if {
	some c in k8s.containers
	some i, e in c.spec.env
	e.valueFrom.secretKeyRef
}

secret_env contains [c, concat("", ["envFrom[", format_int(i, 10), "] takes secret ", e.secretRef.name, " as environment variables; mount it as a file"])] if {
	some c in k8s.containers
	some i, e in c.spec.envFrom
	e.secretRef
}

# NSA-1.3 scanner part, off unless the admin config names a scanner URL. The scanner is
# asked POST {url} {"image": ...} and answers {"vulnerabilities": [{"id", "severity"}]}.
# An unreachable or failing scanner denies: an unscanned image is not a trusted one.
scanner := object.get(data.config, "image_scanner", {})

scanner_on if is_string(scanner.url)

severity_rank := {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

scan(image) := http.send({
	"method": "POST",
	"url": scanner.url,
	"body": {"image": image},
	"timeout": object.get(scanner, "timeout", "5s"),
	"raise_error": false,
})

scan_failure(r) := concat("", ["HTTP ", format_int(r.status_code, 10)]) if r.status_code != 0

scan_failure(r) := object.get(r, "error", {"message": "no answer"}).message if r.status_code == 0

vulnerable_images contains [c, concat("", [where, "image ", image, " could not be scanned (", scan_failure(r), ")"])] if {
	scanner_on
	some [c, where, image] in images.pulls
	r := scan(image)
	r.status_code != 200
}

vulnerable_images contains [c, concat("", [where, "image ", image, " has ", upper(v.severity), " vulnerability ", v.id])] if {
	scanner_on
	some [c, where, image] in images.pulls
	r := scan(image)
	r.status_code == 200
	some v in r.body.vulnerabilities
	severity_rank[upper(v.severity)] >= severity_rank[upper(object.get(scanner, "deny_severity", "HIGH"))]
}
