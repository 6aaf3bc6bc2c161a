package admission_test

import data.admission
import data.system
import data.webhook

review(ns) := {"request": {
	"uid": "u-1",
	"operation": "CREATE",
	"kind": {"kind": "Pod"},
	"object": {
		"metadata": {"name": "a", "namespace": ns},
		"spec": {"containers": [{"name": "app", "image": "nginx"}]},
	},
}}

test_denied_review_lists_every_message_once if {
	r := system.main with input as review("default")
	r.kind == "AdmissionReview"
	r.response.uid == "u-1"
	r.response.allowed == false
	r.response.status.code == 403
	lines := split(r.response.status.message, "\n")
	count(lines) == count(admission.deny) with input as review("default")
	"[CIS-5.6.4] Pod default/a: namespace default is reserved; deploy workloads into a namespace of their own" in lines
}

test_single_control_review_allows if {
	r := webhook.controls.cis_5_6_4 with input as review("shop")
	r.response == {"uid": "u-1", "allowed": true}
}

test_single_control_review_denies if {
	r := webhook.controls.cis_5_6_4 with input as review("default")
	r.response.allowed == false
	r.response.status.message == "[CIS-5.6.4] Pod default/a: namespace default is reserved; deploy workloads into a namespace of their own"
}

test_selected_control_review if {
	r := webhook.selected with input as review("default") with data.harness.selected as "cis_5_6_4"
	r.response.allowed == false
	count(split(r.response.status.message, "\n")) == 1
}

test_selected_all_is_the_combined_review if {
	r := webhook.selected with input as review("default") with data.harness.selected as "ALL"
	r == system.main with input as review("default")
}

test_selected_none_allows if {
	r := webhook.selected with input as review("default") with data.harness.selected as "NONE"
	r.response == {"uid": "u-1", "allowed": true}
}
