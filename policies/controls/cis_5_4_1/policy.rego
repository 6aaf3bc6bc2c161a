package controls.cis_5_4_1

import data.lib.checks
import data.lib.k8s

control := "CIS-5.4.1"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.secret_env
}
