package controls.nsa_1_2

import data.lib.checks
import data.lib.k8s

control := "NSA-1.2"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.mutable_root_filesystem
}
