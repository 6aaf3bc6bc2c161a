package controls.nsa_1_4

import data.lib.k8s
import data.lib.pss

control := "NSA-1.4"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in pss.violations
}
