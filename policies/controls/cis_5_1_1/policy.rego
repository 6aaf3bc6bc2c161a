package controls.cis_5_1_1

import data.lib.k8s
import data.lib.rbac

deny contains concat("", ["[CIS-5.1.1] ", v[0].label, v[1]]) if {
	rbac.rbac_write
	not k8s.exempt_controls["CIS-5.1.1"]
	some v in rbac.cluster_admin_bindings
}
