package node.nsa_2_7

import data.lib.node

control := "NSA-2.7"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.must_be_set(control, node.apiserver, "encryption-provider-config")
