package node.nsa_4_1_1

import data.lib.node

control := "NSA-4.1.1"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.must_be_set(control, node.apiserver, "audit-policy-file")

deny contains node.finding(control, node.apiserver, "audit events go nowhere: set --audit-log-path or --audit-webhook-config-file") if {
	not node.missing(node.apiserver)
	not node.flag_set(node.apiserver, "audit-log-path")
	not node.flag_set(node.apiserver, "audit-webhook-config-file")
}
