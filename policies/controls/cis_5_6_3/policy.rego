package controls.cis_5_6_3

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[CIS-5.6.3] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["CIS-5.6.3"]
	some v in checks.no_security_context
}
