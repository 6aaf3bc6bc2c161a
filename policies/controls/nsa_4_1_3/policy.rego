package controls.nsa_4_1_3

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[NSA-4.1.3] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["NSA-4.1.3"]
	some v in checks.no_audit_seccomp
}
