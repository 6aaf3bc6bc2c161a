package controls.cis_5_2_9

import data.lib.checks
import data.lib.k8s

control := "CIS-5.2.9"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.added_capabilities
}
