package nodecheck_test

import data.nodecheck

test_union_of_node_controls if {
	snapshot := {"static_pods": {"kube-apiserver": {"path": "etc/kubernetes/manifests/kube-apiserver.yaml", "present": false}}, "kubeconfigs": []}
	denials := nodecheck.deny with input as snapshot
	"[NSA-3.1] kube-apiserver (etc/kubernetes/manifests/kube-apiserver.yaml): manifest missing or unreadable" in denials
	"[NSA-2.7] kube-apiserver (etc/kubernetes/manifests/kube-apiserver.yaml): manifest missing or unreadable" in denials
}
