package audit.cis_5_2_1

import data.lib.audit

control := "CIS-5.2.1"

deny contains audit.cluster_finding(control, "no active policy mechanism: no validating webhook or ValidatingAdmissionPolicy binding covers pods, and not every user namespace has a Pod Security Admission enforce label") if {
	not audit.webhook_covers_pods
	not audit.admission_policy_covers_pods
	not audit.psa_everywhere
}
