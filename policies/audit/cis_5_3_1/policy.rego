package audit.cis_5_3_1

import data.lib.audit

control := "CIS-5.3.1"

deny contains audit.cluster_finding(control, "no known network plugin found; cannot tell whether NetworkPolicy is enforced") if {
	count(audit.detected_cni) == 0
}

deny contains audit.cluster_finding(control, concat("", ["network plugin(s) ", concat(", ", sort(audit.detected_cni)), " do not enforce NetworkPolicy"])) if {
	count(audit.detected_cni) > 0
	count({p | some p in audit.detected_cni; audit.cni_support[p]}) == 0
}
