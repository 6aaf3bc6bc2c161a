package node.cis_5_4_2

import data.lib.node

control := "CIS-5.4.2"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.finding(control, node.apiserver, "--encryption-provider-config must be set, with a KMS v2 provider first for secrets") if {
	not node.missing(node.apiserver)
	not node.flag_set(node.apiserver, "encryption-provider-config")
}

deny contains node.unreadable_encryption(control)

deny contains node.secrets_unlisted(control)

# KMS v2 keeps the key-encryption key in the external KMS; a local key (aescbc, aesgcm,
# secretbox) sits in the same file, and KMS v1 is deprecated and off by default.
deny contains node.encryption_finding(control, concat("", ["secrets are written by ", writer, ", not by a KMS v2 provider"])) if {
	not kms_v2(node.secrets_writer)
	writer := describe(node.secrets_writer)
}

kms_v2(writer) if {
	writer.name == "kms"
	writer.settings.apiVersion == "v2"
}

describe(writer) := concat("", ["kms ", object.get(writer.settings, "apiVersion", "v1")]) if writer.name == "kms"

describe(writer) := writer.name if writer.name != "kms"
