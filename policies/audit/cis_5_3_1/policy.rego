package audit.cis_5_3_1

import data.lib.audit

control := "CIS-5.3.1"

deny contains audit.cluster_finding(control, "no known network plugin found; cannot tell whether NetworkPolicy is enforced") if {
	count(audit.detected_cni) == 0
}

deny contains audit.cluster_finding(control, concat("", ["network plugin(s) ", concat(", ", sort(audit.detected_cni)), " do not enforce NetworkPolicy"])) if {
	count(audit.detected_cni) > 0
	not audit.enforcing_cni_detected
	count(audit.undecided_cni) == 0
}

deny contains audit.cluster_finding(control, concat("", ["network plugin(s) ", concat(", ", sort(audit.undecided_cni)), " enforce NetworkPolicy only in some releases; the name cannot tell which runs"])) if {
	not audit.enforcing_cni_detected
	count(audit.undecided_cni) > 0
}
