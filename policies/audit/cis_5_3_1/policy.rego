package audit.cis_5_3_1

import data.lib.audit

control := "CIS-5.3.1"

# With a probe: what the traffic did decides.
deny contains audit.cluster_finding(control, "the network-policy probe's client never reached its server, so the probe shows nothing") if {
	some probe in audit.network_policy_probes
	not audit.probe_saw(probe, "reachedBefore")
}

deny contains audit.cluster_finding(control, "traffic went on after a deny-all ingress NetworkPolicy: the network plugin does not enforce NetworkPolicy") if {
	some probe in audit.network_policy_probes
	audit.probe_saw(probe, "reachedBefore")
	not audit.probe_saw(probe, "blockedAfter")
}

deny contains audit.cluster_finding(control, "traffic did not come back once the deny-all NetworkPolicy was deleted, so the policy is not shown to be what stopped it") if {
	some probe in audit.network_policy_probes
	audit.probe_saw(probe, "reachedBefore")
	audit.probe_saw(probe, "blockedAfter")
	not audit.probe_saw(probe, "reachedAgain")
}

# Without one (a saved state, an audit run with --no-probe): the plugin's name, partial.
deny contains audit.cluster_finding(control, "no known network plugin found; cannot tell whether NetworkPolicy is enforced") if {
	not audit.network_policy_probed
	count(audit.detected_cni) == 0
}

deny contains audit.cluster_finding(control, concat("", ["network plugin(s) ", concat(", ", sort(audit.detected_cni)), " do not enforce NetworkPolicy"])) if {
	not audit.network_policy_probed
	count(audit.detected_cni) > 0
	not audit.enforcing_cni_detected
	count(audit.undecided_cni) == 0
}

deny contains audit.cluster_finding(control, concat("", ["network plugin(s) ", concat(", ", sort(audit.undecided_cni)), " enforce NetworkPolicy only in some releases; the name cannot tell which runs"])) if {
	not audit.network_policy_probed
	not audit.enforcing_cni_detected
	count(audit.undecided_cni) > 0
}
