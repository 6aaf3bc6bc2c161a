# The checks behind the controls. Several controls of the two frameworks share a
# meaning (NSA-1.1 and CIS-5.2.7, for example); each keeps its own package and deny
# messages, and both call the one definition here.
package lib.checks

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
	some c in k8s.containers
	not c.spec.securityContext.readOnlyRootFilesystem == true
}

# NSA-1.3: the registry is the first path segment when it looks like a host
# (has "." or ":" or is "localhost"); anything else is a Docker Hub short name.
registry(image) := first if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	host_like(first)
} else := "docker.io"

host_like(s) if indexof(s, ".") >= 0

host_like(s) if indexof(s, ":") >= 0

host_like("localhost")

trusted_registries := {r | some r in data.config.trusted_registries}

untrusted_registry contains [c, msg] if {
	some c in k8s.containers
	reg := registry(c.spec.image)
	not reg in trusted_registries
	msg := concat("", ["image ", c.spec.image, " is from registry ", reg, ", which is not trusted (trusted: ", concat(", ", sort(trusted_registries)), ")"])
}

# NSA-1.5, CIS-5.1.6
token_automount contains [null, concat("", [k8s.spec_path, ".automountServiceAccountToken must be false"])] if {
	not k8s.pod_spec.automountServiceAccountToken == false
}

# NSA-1.6
sandbox_classes := {r | some r in data.config.sandbox_runtime_classes}

confined_types := {"RuntimeDefault", "Localhost"}

sandboxed if k8s.pod_spec.runtimeClassName in sandbox_classes

unhardened contains [c, "seccompProfile.type Unconfined is never allowed"] if {
	some c in k8s.containers
	k8s.seccomp_type(c) == "Unconfined"
}

unhardened contains [c, msg] if {
	not sandboxed
	some c in k8s.containers
	not k8s.seccomp_type(c) in confined_types
	k8s.seccomp_type(c) != "Unconfined"
	msg := concat("", ["needs a sandbox runtimeClassName (", concat(", ", sort(sandbox_classes)), ") or a RuntimeDefault/Localhost seccompProfile"])
}

# NSA-2.1, CIS-5.6.1, CIS-5.6.4
system_namespaces := {"kube-system", "kube-public", "default"}

in_namespace(reserved) := [null, concat("", ["namespace ", k8s.namespace, " is reserved; deploy workloads into a namespace of their own"])] if {
	k8s.namespace in reserved
}

# NSA-2.2, CIS-5.3.2
no_network_policy contains [null, concat("", ["namespace ", k8s.namespace, " has no NetworkPolicy"])] if {
	count(k8s.state("networkpolicies", k8s.namespace)) == 0
}

# NSA-2.6: Istio strict mTLS for the whole namespace (a PeerAuthentication without a
# workload selector). A mesh-wide policy in the mesh root namespace is not counted.
no_strict_mtls contains [null, concat("", ["namespace ", k8s.namespace, " has no namespace-wide PeerAuthentication with mtls.mode STRICT"])] if {
	not strict_mtls(k8s.namespace)
}

strict_mtls(ns) if {
	some pa in k8s.state("peerauthentications", ns)
	not pa.spec.selector
	pa.spec.mtls.mode == "STRICT"
}

# NSA-2.3. Ephemeral containers cannot carry resources, so only the other lists count.
unbounded_resources contains [null, concat("", ["namespace ", k8s.namespace, " has no ResourceQuota"])] if {
	count(k8s.state("resourcequotas", k8s.namespace)) == 0
}

unbounded_resources contains [c, concat("", ["resources.limits.", r, " must be set (no LimitRange in namespace ", k8s.namespace, " supplies a default)"])] if {
	some c in k8s.containers
	c.field != "ephemeralContainers"
	some r in ["cpu", "memory"]
	not c.spec.resources.limits[r]
	not limit_range_default(r)
}

limit_range_default(r) if {
	some lr in k8s.state("limitranges", k8s.namespace)
	some item in lr.spec.limits
	item.type == "Container"
	item["default"][r]
}

# NSA-4.1.3
no_audit_seccomp contains [c, "seccompProfile must be type Localhost with a localhostProfile (an audit profile)"] if {
	some c in k8s.containers
	not audit_profile(c)
}

audit_profile(c) if {
	p := k8s.effective(c, "seccompProfile")
	p.type == "Localhost"
	p.localhostProfile != ""
}

# CIS-5.1.5
default_service_account contains [null, concat("", [k8s.spec_path, ".serviceAccountName must name a dedicated service account, not default"])] if {
	object.get(k8s.pod_spec, "serviceAccountName", "") in {"", "default"}
}

# CIS-5.2.2
privileged contains [c, "securityContext.privileged must not be true"] if {
	some c in k8s.containers
	c.spec.securityContext.privileged == true
}

# CIS-5.2.3, CIS-5.2.4, CIS-5.2.5
host_namespace(field) := [null, concat("", [k8s.spec_path, ".", field, " must not be true"])] if {
	k8s.pod_spec[field] == true
}

# CIS-5.2.6
privilege_escalation contains [c, "securityContext.allowPrivilegeEscalation must be false"] if {
	some c in k8s.containers
	not c.spec.securityContext.allowPrivilegeEscalation == false
}

# CIS-5.2.8
net_raw contains [c, "securityContext.capabilities.drop must include NET_RAW or ALL"] if {
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
	some c in k8s.containers
	not "ALL" in k8s.dropped_capabilities(c)
}

# CIS-5.2.11
host_process contains [null, concat("", [k8s.spec_path, ".securityContext.windowsOptions.hostProcess must not be true"])] if {
	k8s.pod_spec.securityContext.windowsOptions.hostProcess == true
}

host_process contains [c, "securityContext.windowsOptions.hostProcess must not be true"] if {
	some c in k8s.containers
	c.spec.securityContext.windowsOptions.hostProcess == true
}

# CIS-5.2.12
host_path contains [null, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, ") must not be a hostPath volume"])] if {
	some i, v in k8s.pod_spec.volumes
	v.hostPath
}

# CIS-5.2.13
host_port contains [c, concat("", ["ports[", format_int(i, 10), "].hostPort must not be set (is ", format_int(p.hostPort, 10), ")"])] if {
	some c in k8s.containers
	some i, p in c.spec.ports
	object.get(p, "hostPort", 0) != 0
}

# CIS-5.6.2
unconfined_seccomp contains [c, "seccompProfile.type must be RuntimeDefault or Localhost (on the container or the pod)"] if {
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

vulnerable_images contains [c, concat("", ["image ", c.spec.image, " could not be scanned (", scan_failure(r), ")"])] if {
	scanner_on
	some c in k8s.containers
	r := scan(c.spec.image)
	r.status_code != 200
}

vulnerable_images contains [c, concat("", ["image ", c.spec.image, " has ", upper(v.severity), " vulnerability ", v.id])] if {
	scanner_on
	some c in k8s.containers
	r := scan(c.spec.image)
	r.status_code == 200
	some v in r.body.vulnerabilities
	severity_rank[upper(v.severity)] >= severity_rank[upper(object.get(scanner, "deny_severity", "HIGH"))]
}
