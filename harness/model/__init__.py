"""What is measured, as data: the control catalog, the admin config, fixtures and the
manifests they hold, node snapshots and node trees, and the policy library on disk.

Its one job is to load, check and shape inputs; nothing here evaluates a policy, starts
a process or writes results.

May import: harness (errors, paths).
"""
