package controls.cis_5_1_4

import data.lib.k8s
import data.lib.rbac

deny contains concat("", ["[CIS-5.1.4] ", v[0].label, v[1]]) if {
	rbac.rbac_write
	not k8s.exempt_controls["CIS-5.1.4"]
	some v in rbac.pod_creation
}
