package node.nsa_3_2

import data.lib.node

control := "NSA-3.2"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.must_include(control, node.apiserver, "authorization-mode", "RBAC")

deny contains node.finding(control, node.apiserver, "--authorization-mode must not include AlwaysAllow") if {
	"AlwaysAllow" in node.flag_values(node.apiserver, "authorization-mode")
}
