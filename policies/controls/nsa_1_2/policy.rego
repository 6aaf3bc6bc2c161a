package controls.nsa_1_2

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-1.2] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-1.2"]
	some v in checks.mutable_root_filesystem
}
