"""pac-harness: measure how much of the NSA/CISA and CIS Kubernetes guidance can be
enforced as policy-as-code, and at what latency."""

__version__ = "0.1.0"
