package controls.cis_5_1_7

import data.lib.csr
import data.lib.k8s
import data.lib.rbac

control := "CIS-5.1.7"

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	rbac.rbac_write
	not control in k8s.exempt_controls
	some v in rbac.system_masters
}

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	csr.csr_write
	not control in k8s.exempt_controls
	some v in csr.system_masters
}
