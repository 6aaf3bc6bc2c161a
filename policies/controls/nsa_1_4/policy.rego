package controls.nsa_1_4

import data.lib.k8s
import data.lib.pss

deny contains concat("", ["[NSA-1.4] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-1.4"]
	some v in pss.violations
}
