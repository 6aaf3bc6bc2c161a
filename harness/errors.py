"""One exception type for bad input: the CLI prints it as one line and exits 2."""


class HarnessError(Exception):
    """A user-facing error whose message names the file, control or target at fault."""


class TargetError(HarnessError):
    """A decision target failed (for example an OPA server that died mid-run)."""
