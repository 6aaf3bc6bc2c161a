package controls.nsa_2_3

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-2.3] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-2.3"]
	some v in checks.unbounded_resources
}
