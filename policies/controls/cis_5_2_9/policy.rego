package controls.cis_5_2_9

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[CIS-5.2.9] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["CIS-5.2.9"]
	some v in checks.added_capabilities
}
