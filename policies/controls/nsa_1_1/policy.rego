package controls.nsa_1_1

import data.lib.checks
import data.lib.k8s

control := "NSA-1.1"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.run_as_root
}
