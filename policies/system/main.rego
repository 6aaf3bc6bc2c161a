# OPA answers POST / with data.system.main: the kube-apiserver webhook entry point.
package system

main := data.admission.review
