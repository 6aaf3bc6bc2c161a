package controls.nsa_1_1

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-1.1] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-1.1"]
	some v in checks.run_as_root
}
