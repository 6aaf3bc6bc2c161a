package controls.cis_5_1_2

import data.lib.k8s
import data.lib.rbac

control := "CIS-5.1.2"

deny contains k8s.format(control, v) if {
	rbac.applies(control)
	some v in rbac.secret_access
}
