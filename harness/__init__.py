"""pac-harness: measure how much of the NSA/CISA and CIS Kubernetes guidance can be
enforced as policy-as-code, and at what latency."""

from __future__ import annotations

import sys

__version__ = "0.1.0"


class _RegopyBeforeNumpy:
    """rego-cpp (regopy) leaks memory on every query, tens of KB each, when numpy's
    bundled libraries were loaded into the process before it; a 1000-iteration run grew
    past 20 GB. Loading regopy first avoids it. Loading it on every import of the package
    cost each `node-check` process about 80 ms, so it is loaded just before the first
    import of a library that brings numpy's in, and not at all by commands that need
    neither. (A plain class: importlib.abc alone costs 20 ms to import.)"""

    TRIGGERS = frozenset({"numpy", "pandas", "pyarrow", "matplotlib", "scipy"})

    # path and target go unread: typed as anything, so that importing typing stays out
    # of every process's start.
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        # Stays in sys.meta_path (removing itself would shift the list importlib is
        # iterating); once regopy is in, it only declines.
        if fullname in self.TRIGGERS and "regopy" not in sys.modules:
            import regopy  # noqa: F401
        return None


if "numpy" not in sys.modules and not any(isinstance(f, _RegopyBeforeNumpy) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegopyBeforeNumpy())
