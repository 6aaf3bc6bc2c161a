"""Peers side by side: other admission mechanisms and published rule sets, asked about
the same fixtures our policies decide (python -m harness peers).

A peer answers per fixture with the checks it fired; scenarios/peers.yaml says which of
its checks correspond to which of our controls. A control a peer has no check for is
"not covered" by it, never counted as a pass or a miss. The mapping file is read by
harness.model.peers; harness.reporting.peers makes the tables.

May import: harness (errors, paths, progress), harness.model, harness.infra,
harness.targets, harness.reporting.
"""
