# One AdmissionReview per control, so a webhook can ask for a single control:
# POST /v0/data/webhook/controls/<package> with the AdmissionReview as the body.
# The whole set is POST / (data.system.main).
package webhook

import data.admission

controls[name] := admission.review_of(denials) if {
	some name
	denials := data.controls[name].deny
}

# The review of the control the harness selected with a data write (data.harness.selected,
# a package name or ALL): one registered webhook URL serves every control in turn, and
# switching takes effect at once, unlike re-registering a webhook with kube-apiserver.
selected := controls[data.harness.selected] if data.harness.selected != "ALL"

selected := admission.review if data.harness.selected == "ALL"

# NONE reviews nothing and allows: the harness selects it while it creates the pods that
# an UPDATE fixture (an ephemeral container added to a running pod) starts from.
selected := admission.review_of(set()) if data.harness.selected == "NONE"
