package controls.cis_5_1_7

import data.lib.csr
import data.lib.k8s
import data.lib.rbac

deny contains concat("", ["[CIS-5.1.7] ", v[0].label, v[1]]) if {
	rbac.rbac_write
	not k8s.exempt_controls["CIS-5.1.7"]
	some v in rbac.system_masters
}

deny contains concat("", ["[CIS-5.1.7] ", v[0].label, v[1]]) if {
	csr.csr_write
	not k8s.exempt_controls["CIS-5.1.7"]
	some v in csr.system_masters
}
