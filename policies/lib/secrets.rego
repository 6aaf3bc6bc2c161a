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

# Updates Kubernetes itself makes to a Secret carry no value anyone chose (read from
# k8s.io/kubernetes v1.37.2): kube-apiserver's loopback client (system:apiserver)
# labels a legacy token with the day it was last used (pkg/serviceaccount/legacy.go,
# patchSecretWithLastUsedDate); the legacy token cleaner labels one invalid
# (pkg/controller/serviceaccount/legacy_serviceaccount_token_cleaner.go); the token
# controller, with kube-controller-manager's own credentials (rootClientBuilder
# "tokens-controller"), writes a token Secret's token, ca.crt and namespace and the
# service account annotations (pkg/controller/serviceaccount/tokens_controller.go); the
# garbage collector patches owner references and finalizers. Each is admitted for
# exactly that change; any other writer, or any other change, is judged as a write.
control_plane_update if {
	input.request.operation == "UPDATE"
	some allowed in control_plane_changes[writer]
	changes_only(allowed)
}

# Writer -> what it may change: data keys, label keys, annotation keys, and whether the
# rest of metadata (owner references, finalizers) may change.
control_plane_changes := {
	"system:apiserver": [{"labels": {"kubernetes.io/legacy-token-last-used"}}],
	"system:serviceaccount:kube-system:legacy-service-account-token-cleaner": [{"labels": {"kubernetes.io/legacy-token-invalid-since"}}],
	"system:serviceaccount:kube-system:generic-garbage-collector": [{"metadata": true}],
	"system:kube-controller-manager": [
		{"labels": {"kubernetes.io/legacy-token-invalid-since"}},
		{"metadata": true},
		{
			"token_type": true,
			"data": {"token", "ca.crt", "namespace"},
			"annotations": {"kubernetes.io/service-account.name", "kubernetes.io/service-account.uid"},
		},
	],
}

# An UPDATE's review always carries the object as it was.
old := input.request.oldObject

changes_only(allowed) if {
	not k8s.obj.stringData
	object.get(k8s.obj, "type", "Opaque") == object.get(old, "type", "Opaque")
	token_type_if_asked(allowed)
	count(changed(object.get(k8s.obj, "data", {}), object.get(old, "data", {})) - object.get(allowed, "data", set())) == 0
	count(changed(labels(k8s.obj), labels(old)) - object.get(allowed, "labels", set())) == 0
	count(changed(annotations(k8s.obj), annotations(old)) - object.get(allowed, "annotations", set())) == 0
	other_metadata_if_allowed(allowed)
}

token_type_if_asked(allowed) if not allowed.token_type

token_type_if_asked(_) if k8s.obj.type == "kubernetes.io/service-account-token"

other_metadata_if_allowed(allowed) if allowed.metadata

other_metadata_if_allowed(allowed) if {
	not allowed.metadata
	object.get(k8s.obj.metadata, "ownerReferences", []) == object.get(old, ["metadata", "ownerReferences"], [])
	object.get(k8s.obj.metadata, "finalizers", []) == object.get(old, ["metadata", "finalizers"], [])
}

labels(o) := object.get(o, ["metadata", "labels"], {})

annotations(o) := object.get(o, ["metadata", "annotations"], {})

# The keys whose value differs between two maps, added and removed ones included.
changed(new, before) := {k |
	some k in (object.keys(new) | object.keys(before))
	object.get(new, k, null) != object.get(before, k, null)
}
