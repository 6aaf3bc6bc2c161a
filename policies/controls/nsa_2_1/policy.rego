package controls.nsa_2_1

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-2.1] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-2.1"]
	v := checks.in_namespace(checks.system_namespaces)
}
