package controls.cis_5_6_4

import data.lib.checks
import data.lib.k8s

deny contains concat("", ["[CIS-5.6.4] ", v[0].label, v[1]]) if {
	k8s.pod_write
	not k8s.exempt_controls["CIS-5.6.4"]
	v := checks.in_namespace({"default"})
}
