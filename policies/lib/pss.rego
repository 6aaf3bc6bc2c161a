# The Pod Security Standards "restricted" profile (baseline included) exactly as Pod
# Security Admission evaluates it at policy version v1.37 (k8s.io/pod-security-admission
# v0.37.2, policy/check_*.go). NSA-1.4 is enforced through this. Where PSA's reading
# differs from the CIS controls' (a pod-level value that every container overrides still
# counts; capability names compare exactly), this package follows PSA and keeps its own
# rules. A field set to null counts as unset, as it does once the API server decodes it.
package lib.pss

import data.lib.checks
import data.lib.k8s

restricted_volume_types := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
}

# sysctlsAllowedV1Dot37
safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
	"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat",
}

selinux_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

profile_types := {"RuntimeDefault", "Localhost"}

probes := ["livenessProbe", "readinessProbe", "startupProbe"]

handler_kinds := ["httpGet", "tcpSocket"]

# Objects that may be null or absent read as {}; strings as "".
as_object(x) := x if is_object(x)

else := {}

as_string(x) := x if is_string(x)

else := ""

pod_sc := as_object(object.get(k8s.pod_spec, "securityContext", {}))

sc(c) := as_object(object.get(c.spec, "securityContext", {}))

# v1.35+: an explicit hostUsers: false (a user namespace) relaxes runAsNonRoot,
# runAsUser and the baseline procMount check.
user_namespaced if k8s.pod_spec.hostUsers == false

# ---- baseline

violations contains v if some v in checks.host_process

violations contains v if some v in checks.privileged

violations contains v if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	v := checks.host_namespace(field)
}

violations contains v if some v in checks.host_port

violations contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.appArmorProfile.type must be RuntimeDefault or Localhost"])] if {
	profile := pod_sc.appArmorProfile
	is_object(profile)
	not object.get(profile, "type", "") in profile_types
}

violations contains [c, "securityContext.appArmorProfile.type must be RuntimeDefault or Localhost"] if {
	some c in k8s.containers
	profile := sc(c).appArmorProfile
	is_object(profile)
	not object.get(profile, "type", "") in profile_types
}

violations contains [k8s.whole_object, concat("", ["annotation ", key, " must be runtime/default or localhost/<profile>"])] if {
	some key, value in as_object(k8s.pod_metadata.annotations)
	startswith(key, "container.apparmor.security.beta.kubernetes.io/")
	not allowed_apparmor_annotation(value)
}

allowed_apparmor_annotation("")

allowed_apparmor_annotation("runtime/default")

allowed_apparmor_annotation(value) if startswith(value, "localhost/")

violations contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.seLinuxOptions ", problem])] if {
	opts := pod_sc.seLinuxOptions
	is_object(opts)
	some problem in selinux_problems(opts)
}

violations contains [c, concat("", ["securityContext.seLinuxOptions ", problem])] if {
	some c in k8s.containers
	opts := sc(c).seLinuxOptions
	is_object(opts)
	some problem in selinux_problems(opts)
}

selinux_problems(opts) := {concat("", ["type ", t, " is not allowed"]) |
	t := as_string(object.get(opts, "type", ""))
	not t in selinux_types
} | {concat("", [f, " must not be set"]) |
	some f in ["user", "role"]
	as_string(object.get(opts, f, "")) != ""
}

violations contains [k8s.whole_object, concat("", ["sysctl ", s.name, " is not in the safe set"])] if {
	some s in pod_sc.sysctls
	not s.name in safe_sysctls
}

violations contains [c, concat("", [probe, ".", kind, ".host must not be set (is ", host, ")"])] if {
	some c in k8s.containers
	some probe in probes
	handler := c.spec[probe]
	some kind in handler_kinds
	host := as_string(handler[kind].host)
	host != ""
}

violations contains [c, concat("", ["lifecycle.", hook, ".", kind, ".host must not be set (is ", host, ")"])] if {
	some c in k8s.containers
	lifecycle := c.spec.lifecycle
	some hook in ["postStart", "preStop"]
	some kind in handler_kinds
	host := as_string(lifecycle[hook][kind].host)
	host != ""
}

# ---- restricted (its procMount, volume, seccomp and capability checks replace baseline's)

violations contains [c, "securityContext.procMount must be Default"] if {
	some c in k8s.containers
	pm := sc(c).procMount
	pm != null
	pm != "Default"
}

violations contains [k8s.whole_object, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, ") uses volume type ", volume_type(v), ", which restricted does not allow"])] if {
	some i, v in k8s.pod_spec.volumes
	not restricted_volume(v)
}

restricted_volume(v) if {
	some t in restricted_volume_types
	v[t] != null
}

volume_type(v) := types[0] if {
	types := sort([t |
		v[t] != null
		t != "name"
	])
	count(types) > 0
} else := "unknown"

# The checks PSA skips for Windows pods and for pods in a user namespace sit in two
# sets of their own, each asked once behind its condition rather than each rule asking.
violations contains v if {
	not k8s.is_windows
	some v in linux_violations
}

violations contains v if {
	not user_namespaced
	some v in run_as_violations
}

linux_violations contains v if some v in checks.privilege_escalation

run_as_violations contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.runAsNonRoot must not be false"])] if {
	pod_sc.runAsNonRoot == false
}

run_as_violations contains [c, "securityContext.runAsNonRoot must not be false"] if {
	some c in k8s.containers
	sc(c).runAsNonRoot == false
}

run_as_violations contains [c, "securityContext.runAsNonRoot must be true (on the container or the pod)"] if {
	some c in k8s.containers
	object.get(sc(c), "runAsNonRoot", null) == null
	not pod_sc.runAsNonRoot == true
}

run_as_violations contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.runAsUser must not be 0"])] if {
	pod_sc.runAsUser == 0
}

run_as_violations contains [c, "securityContext.runAsUser must not be 0"] if {
	some c in k8s.containers
	sc(c).runAsUser == 0
}

linux_violations contains [k8s.whole_object, concat("", [k8s.spec_path, ".securityContext.seccompProfile.type must be RuntimeDefault or Localhost"])] if {
	profile := pod_sc.seccompProfile
	is_object(profile)
	not object.get(profile, "type", "") in profile_types
}

linux_violations contains [c, "securityContext.seccompProfile.type must be RuntimeDefault or Localhost"] if {
	some c in k8s.containers
	profile := sc(c).seccompProfile
	is_object(profile)
	not object.get(profile, "type", "") in profile_types
}

linux_violations contains [c, "seccompProfile.type must be RuntimeDefault or Localhost (on the container or the pod)"] if {
	some c in k8s.containers
	not is_object(object.get(sc(c), "seccompProfile", null))
	not pod_seccomp_valid
}

pod_seccomp_valid if pod_sc.seccompProfile.type in profile_types

linux_violations contains [c, "securityContext.capabilities.drop must include ALL"] if {
	some c in k8s.containers
	not "ALL" in as_list(object.get(capabilities(c), "drop", []))
}

linux_violations contains [c, concat("", ["securityContext.capabilities.add must not include ", cap])] if {
	some c in k8s.containers
	some cap in as_list(object.get(capabilities(c), "add", []))
	cap != "NET_BIND_SERVICE"
}

capabilities(c) := as_object(object.get(sc(c), "capabilities", {}))

as_list(x) := x if is_array(x)

else := []
