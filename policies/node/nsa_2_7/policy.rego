package node.nsa_2_7

import data.lib.node

control := "NSA-2.7"

deny contains node.absent_manifest(control, node.apiserver)

deny contains node.must_be_set(control, node.apiserver, "encryption-provider-config")

deny contains node.unreadable_encryption(control)

deny contains node.secrets_unlisted(control)

# The identity provider first writes Secrets in plain text, whatever follows it.
deny contains node.encryption_finding(control, "secrets are written by the identity provider (plain text)") if {
	node.secrets_writer.name == "identity"
}
