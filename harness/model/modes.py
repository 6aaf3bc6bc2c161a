"""The vocabulary of a run's records: what was measured (mode) and what judged it
(mechanism). Targets name their series with these, the replay writes them, the report
reads them; each is spelled here once."""

from __future__ import annotations

# Modes: the policies one by one, all of a point's policies as one query, and the series
# a target adds after them (harness.targets.base.Series).
POLICY_MODE = "policy"
COMBINED_MODE = "combined"
BASELINE_MODE = "baseline"  # the same fixtures with no admission check in the path
MECHANISMS_MODE = "mechanisms"  # every mechanism in turn, paired by iteration
PSA_MODE = "psa"  # Pod Security Admission beside NSA-1.4, per pod fixture
OPA_BENCH = "opa_bench"  # OPA's own timing (a table beside the records)

# Mechanisms: the policies however the target runs them (an engine in process, OPA over
# HTTPS), the OPA webhook in an API server, a ValidatingAdmissionPolicy, nothing, and
# Pod Security Admission.
POLICY = "policy"
WEBHOOK = "webhook"
VAP = "vap"
NONE = "none"
PSA = "psa"
