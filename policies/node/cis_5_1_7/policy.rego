# CIS-5.1.7 on the node: no kubeconfig under /etc/kubernetes, nor a user's ~/.kube/config,
# may hold a client certificate in system:masters, except kubeadm's break-glass
# super-admin.conf (v1.29 on). Such a certificate passes every authorization check and
# cannot be revoked short of rotating the cluster CA. The certificates' organizations are
# read by the snapshot as Go reads them (harness.model.certs).
package node.cis_5_1_7

control := "CIS-5.1.7"

masters := "system:masters"

break_glass := "etc/kubernetes/super-admin.conf"

kubeconfig_finding(k, text) := concat("", ["[", control, "] ", k.path, ": ", text])

# The break-glass file may hold system:masters, so nothing in it is checked, not even
# whether it can be read.
checked contains k if {
	some k in input.kubeconfigs
	k.path != break_glass
}

deny contains kubeconfig_finding(k, concat("", ["user ", u.name, " has a client certificate in ", masters, "; only the break-glass ", break_glass, " may"])) if {
	some k in checked
	some u in k.users
	masters in u.organizations
}

# Fail closed: what cannot be read cannot be shown to stay out of the group. The
# snapshot sets config_error (or a user's error) only when reading failed; the message
# needs it, so the rule holds only then.
deny contains kubeconfig_finding(k, concat("", ["cannot read the kubeconfig (", k.config_error, ")"])) if {
	some k in checked
}

deny contains kubeconfig_finding(k, concat("", ["cannot read user ", u.name, "'s client certificate ", u.certificate, " (", u.error, ")"])) if {
	some k in checked
	some u in k.users
}
