package node.cis_5_5_1

import data.lib.node

control := "CIS-5.5.1"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.must_include(control, node.apiserver, "enable-admission-plugins", "ImagePolicyWebhook")

deny contains node.must_be_set(control, node.apiserver, "admission-control-config-file")
