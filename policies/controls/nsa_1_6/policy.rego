package controls.nsa_1_6

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-1.6] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-1.6"]
	some v in checks.unhardened
}
