package controls.cis_5_1_5

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[CIS-5.1.5] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["CIS-5.1.5"]
	some v in checks.default_service_account
}
