"""pac-harness: measure how much of the NSA/CISA and CIS Kubernetes guidance can be
enforced as policy-as-code, and at what latency."""

# rego-cpp (regopy) leaks memory on every query, tens of KB each, when numpy's bundled
# libraries were loaded into the process before it; a 1000-iteration run grew past 20 GB.
# Loading regopy first avoids it, so every entry point into the package does that here.
import regopy as _regopy  # noqa: F401

__version__ = "0.1.0"
