# The Pod Security Standards "restricted" profile (which includes "baseline"), as the
# current Kubernetes documentation defines it. NSA-1.4 is enforced through this.
package lib.pss

import data.lib.checks
import data.lib.k8s

restricted_volume_types := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
	"persistentVolumeClaim", "projected", "secret",
}

safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
	"net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}

selinux_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

apparmor_types := {"RuntimeDefault", "Localhost"}

# Baseline: HostProcess, privileged, host ports
violations contains v if some v in checks.host_process

violations contains v if some v in checks.privileged

violations contains v if some v in checks.host_port

# Baseline: host namespaces
violations contains checks.host_namespace(field) if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	checks.host_namespace(field)
}

# Baseline: AppArmor (field and the older annotation)
violations contains [null, concat("", [k8s.spec_path, ".securityContext.appArmorProfile.type must be RuntimeDefault or Localhost"])] if {
	t := k8s.pod_spec.securityContext.appArmorProfile.type
	not t in apparmor_types
}

violations contains [c, "securityContext.appArmorProfile.type must be RuntimeDefault or Localhost"] if {
	some c in k8s.containers
	t := c.spec.securityContext.appArmorProfile.type
	not t in apparmor_types
}

violations contains [null, concat("", ["annotation ", key, " must be runtime/default or localhost/<profile>"])] if {
	some key, value in k8s.pod_metadata.annotations
	startswith(key, "container.apparmor.security.beta.kubernetes.io/")
	value != "runtime/default"
	not startswith(value, "localhost/")
}

# Baseline: SELinux
violations contains [null, concat("", [k8s.spec_path, ".securityContext.seLinuxOptions ", problem])] if {
	some problem in selinux_problems(k8s.pod_spec.securityContext.seLinuxOptions)
}

violations contains [c, concat("", ["securityContext.seLinuxOptions ", problem])] if {
	some c in k8s.containers
	some problem in selinux_problems(c.spec.securityContext.seLinuxOptions)
}

selinux_problems(opts) := {concat("", ["type ", t, " is not allowed"]) |
	t := object.get(opts, "type", "")
	not t in selinux_types
} | {concat("", [f, " must not be set"]) |
	some f in ["user", "role"]
	object.get(opts, f, "") != ""
}

# Baseline: /proc mount
violations contains [c, "securityContext.procMount must be Default"] if {
	some c in k8s.containers
	object.get(c.spec.securityContext, "procMount", "Default") != "Default"
}

# Baseline: sysctls
violations contains [null, concat("", ["sysctl ", s.name, " is not in the safe set"])] if {
	some s in k8s.pod_spec.securityContext.sysctls
	not s.name in safe_sysctls
}

# Restricted: volume types (covers the baseline hostPath rule too)
violations contains [null, concat("", [k8s.spec_path, ".volumes[", format_int(i, 10), "] (", v.name, ") uses volume type ", t, ", which restricted does not allow"])] if {
	some i, v in k8s.pod_spec.volumes
	some t, _ in v
	t != "name"
	not t in restricted_volume_types
}

# Restricted: running as non-root, non-root user
violations contains v if some v in checks.run_as_root

# Restricted, Linux only: privilege escalation, seccomp, capabilities
violations contains v if {
	not k8s.is_windows
	some v in checks.privilege_escalation
}

violations contains v if {
	not k8s.is_windows
	some v in checks.unconfined_seccomp
}

violations contains v if {
	not k8s.is_windows
	some v in checks.kept_capabilities
}

violations contains v if {
	not k8s.is_windows
	some v in checks.added_capabilities
}
