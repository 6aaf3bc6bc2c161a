package controls.cis_5_1_7

import data.lib.csr
import data.lib.k8s
import data.lib.rbac

control := "CIS-5.1.7"

deny contains k8s.format(control, v) if {
	rbac.applies(control)
	some v in rbac.system_masters
}

deny contains k8s.format(control, v) if {
	csr.applies(control)
	some v in csr.system_masters
}
