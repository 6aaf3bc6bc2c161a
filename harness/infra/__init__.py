"""The real components and how to reach them: pinned tools built from source (OPA,
etcd, kube-apiserver, kind), child processes, certificates, the local control plane,
raw kube-apiserver requests and the kind command line.

Its one job is to provision and talk to those components; which policy runs on them is
the targets' business.

May import: harness (errors, paths), harness.model.
"""
