package controls.nsa_2_1

import data.lib.checks
import data.lib.k8s

control := "NSA-2.1"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	v := checks.in_namespace(checks.system_namespaces)
}
