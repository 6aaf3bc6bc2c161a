package controls.cis_5_2_5

import data.lib.checks
import data.lib.k8s

control := "CIS-5.2.5"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	v := checks.host_namespace("hostNetwork")
}
