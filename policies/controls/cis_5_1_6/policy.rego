package controls.cis_5_1_6

import data.lib.checks
import data.lib.k8s

control := "CIS-5.1.6"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.token_automount
}
