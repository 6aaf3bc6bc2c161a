package controls.cis_5_2_7

import data.lib.checks
import data.lib.k8s

control := "CIS-5.2.7"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.run_as_root
}
