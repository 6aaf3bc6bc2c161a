package controls.nsa_1_3

import data.lib.checks
import data.lib.k8s

control := "NSA-1.3"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.untrusted_registry
}

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.vulnerable_images
}
