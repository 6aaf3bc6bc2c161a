"""Results and what is computed from them: the run folder format (records, decisions,
metadata), coverage per control, latency tables, figures and the paper's generated
blocks. The CLI, the notebooks and the paper all use this one library, so no number is
computed twice.

Its one job is to read and write runs and derive from them; it never runs a target.

May import: harness (errors, paths), harness.model.
"""
