package controls.cis_5_6_2

import data.lib.checks
import data.lib.k8s

control := "CIS-5.6.2"

deny contains k8s.format(control, v) if {
	k8s.applies(control)
	some v in checks.unconfined_seccomp
}
