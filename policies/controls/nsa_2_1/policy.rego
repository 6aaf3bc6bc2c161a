package controls.nsa_2_1

import data.lib.checks
import data.lib.k8s

control := "NSA-2.1"

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not control in k8s.exempt_controls
	v := checks.in_namespace(checks.system_namespaces)
}
