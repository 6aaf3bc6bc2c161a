package controls.nsa_2_2

import data.lib.checks
import data.lib.k8s

control := "NSA-2.2"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.no_default_deny
}
