package controls.nsa_1_4

import data.lib.k8s
import data.lib.pss

control := "NSA-1.4"

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not control in k8s.exempt_controls
	some v in pss.violations
}
