package controls.cis_5_1_4

import data.lib.k8s
import data.lib.rbac

control := "CIS-5.1.4"

deny contains k8s.format(control, v) if {
	rbac.applies(control)
	some v in rbac.pod_creation
}
