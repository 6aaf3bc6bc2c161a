package node.nsa_3_1

import data.lib.node

control := "NSA-3.1"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.must_be(control, node.apiserver, "anonymous-auth", "false")
