package controls.cis_5_4_1

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[CIS-5.4.1] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["CIS-5.4.1"]
	some v in checks.secret_env
}
