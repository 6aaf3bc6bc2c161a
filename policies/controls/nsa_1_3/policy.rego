package controls.nsa_1_3

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-1.3] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-1.3"]
	some v in checks.untrusted_registry
}

deny contains concat("", ["[NSA-1.3] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-1.3"]
	some v in checks.vulnerable_images
}
