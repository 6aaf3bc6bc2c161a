package controls.nsa_2_8

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-2.8] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-2.8"]
	some v in checks.metadata_reachable
}
