# One AdmissionReview per control, so a webhook can ask for a single control:
# POST /v0/data/webhook/controls/<package> with the AdmissionReview as the body.
# The whole set is POST / (data.system.main).
package webhook

import data.admission

controls[name] := admission.review_of(denials) if {
	some name
	denials := data.controls[name].deny
}
