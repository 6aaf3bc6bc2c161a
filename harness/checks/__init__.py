"""Checks built on the policies beside the replay: manifests offline (check), a live or
exported cluster (audit), a node before kubelet starts (nodecheck), the policies against
independent oracles (fuzz against Pod Security Admission, the bootstrap RBAC data from
kube-apiserver) and the Rego unit tests, which the scaffold of a new admission control
(scaffold, `harness new-control`) writes together with the control it tests.

Its one job is to answer "does this pass?" for one input; timing is the replay's.

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting.
"""
