# All admission controls as one decision (thesis figure 6.29), and the AdmissionReview
# a validating webhook returns for any set of denials.
package admission

deny contains msg if {
	some name
	some msg in data.controls[name].deny
}

review := review_of(deny)

review_of(denials) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response_of(denials),
}

response_of(denials) := {"uid": input.request.uid, "allowed": true} if count(denials) == 0

response_of(denials) := {
	"uid": input.request.uid,
	"allowed": false,
	"status": {"code": 403, "message": concat("\n", sort(denials))},
} if {
	count(denials) > 0
}
