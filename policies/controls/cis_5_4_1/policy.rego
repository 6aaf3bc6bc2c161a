package controls.cis_5_4_1

import data.lib.checks
import data.lib.k8s

control := "CIS-5.4.1"

deny contains concat("", ["[", control, "] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not control in k8s.exempt_controls
	some v in checks.secret_env
}
