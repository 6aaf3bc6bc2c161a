package controls.cis_5_4_2

import data.lib.k8s
import data.lib.secrets

# The admission half of CIS-5.4.2; the node half (policies/node/cis_5_4_2) asks that
# what etcd holds be encrypted with a key kept outside the cluster.
deny contains concat("", ["[CIS-5.4.2] ", k8s.whole_object.label, message]) if {
	secrets.secret_write
	not k8s.exempt_controls["CIS-5.4.2"]
	not secrets.minted_token
	not secrets.listed_writer
	not secrets.control_plane_update
	message := concat("", [
		"written by ", secrets.writer,
		", not by an external-secrets controller listed in secret_writers (Secret values must come from the external manager)",
	])
}
