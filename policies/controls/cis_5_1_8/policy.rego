package controls.cis_5_1_8

import data.lib.k8s
import data.lib.rbac

control := "CIS-5.1.8"

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	rbac.rbac_write
	not control in k8s.exempt_controls
	some v in rbac.escalation
}
