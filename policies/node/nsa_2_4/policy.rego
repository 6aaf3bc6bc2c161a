# NSA-2.4 control plane hardening, the parts a node snapshot can decide: TLS on the API
# server and etcd, strong authentication, RBAC, and kubeconfig files readable only by
# their owner. Not decidable here (scope partial): which networks reach the control
# plane, and whether only the API server holds certificates etcd trusts.
package node.nsa_2_4

import data.lib.node

control := "NSA-2.4"

etcd := "etcd"

deny contains node.absent_manifest(control, component) if some component in [node.apiserver, etcd]

# TLS
deny contains node.must_be_set(control, node.apiserver, name) if {
	some name in ["tls-cert-file", "tls-private-key-file", "client-ca-file", "etcd-cafile", "etcd-certfile", "etcd-keyfile"]
}

deny contains node.finding(control, node.apiserver, "--insecure-port must be 0 or unset") if {
	not node.missing(node.apiserver)
	node.flag_set(node.apiserver, "insecure-port")
	not node.flag_is(node.apiserver, "insecure-port", "0")
}

deny contains node.finding(control, node.apiserver, concat("", ["--etcd-servers must use https (", server, ")"])) if {
	some server in node.flag_values(node.apiserver, "etcd-servers")
	not startswith(server, "https://")
}

deny contains node.must_be_set(control, etcd, name) if some name in ["cert-file", "key-file", "trusted-ca-file"]

deny contains node.must_be(control, etcd, "client-cert-auth", "true")

# Strong authentication
deny contains node.must_be(control, node.apiserver, "anonymous-auth", "false")

deny contains node.finding(control, node.apiserver, "--token-auth-file must not be set (static tokens)") if {
	node.flag_set(node.apiserver, "token-auth-file")
}

# RBAC
deny contains node.must_include(control, node.apiserver, "authorization-mode", "RBAC")

# Kubeconfig files: owned by their user, no access for group or others (600 or stricter)
deny contains concat("", ["[", control, "] ", k.path, ": owned by uid ", format_int(k.uid, 10), ", must be owned by ", k.expected_owner, " (uid ", format_int(k.expected_uid, 10), ")"]) if {
	some k in input.kubeconfigs
	k.uid != k.expected_uid
}

deny contains concat("", ["[", control, "] ", k.path, ": mode ", k.mode, " gives access beyond its owner, must be 600 or stricter"]) if {
	some k in input.kubeconfigs
	bits.and(k.mode_bits, 63) != 0
}

deny contains concat("", ["[", control, "] ", k.path, ": cannot be inspected (", k.error, ")"]) if {
	some k in input.kubeconfigs
	k.error
}
