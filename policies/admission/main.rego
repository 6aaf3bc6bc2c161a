# All admission controls as one decision (thesis figure 6.29), and the AdmissionReview
# a validating webhook returns.
package admission

deny contains msg if {
	some name
	some msg in data.controls[name].deny
}

review := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}

response := {"uid": input.request.uid, "allowed": true} if count(deny) == 0

response := {
	"uid": input.request.uid,
	"allowed": false,
	"status": {"code": 403, "message": concat("\n", sort(deny))},
} if count(deny) > 0
