package controls.cis_5_2_3

import data.lib.checks
import data.lib.k8s

control := "CIS-5.2.3"

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not control in k8s.exempt_controls
	v := checks.host_namespace("hostPID")
}
