# Secrets (CIS-5.4.2): who wrote one says where its values come from. A Secret whose
# only writer is the controller that copies values from an external manager (External
# Secrets Operator, a CSI driver syncing Secrets) holds the manager's values; the admin
# lists such writers in config secret_writers, as the usernames the API server
# authenticates (matched exactly: a name is no proof of origin, but only that service
# account's token yields it).
package lib.secrets

import data.lib.k8s

secret_write if {
	k8s.reviewed
	k8s.kind == "Secret"
}

writer := input.request.userInfo.username

listed_writer if writer in object.get(data.config, "secret_writers", [])

# A service account token Secret that arrives empty: kube-controller-manager mints its
# token (writing it as system:kube-controller-manager); its writer chose no value. One
# that arrives with data carries values its writer chose, like any other Secret.
minted_token if {
	k8s.obj.type == "kubernetes.io/service-account-token"
	count(object.get(k8s.obj, "data", {})) == 0
	count(object.get(k8s.obj, "stringData", {})) == 0
}
