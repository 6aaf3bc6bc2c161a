"""The reproduction report's generated pieces, from the committed reference runs.

paper/paper.md is prose written by hand around blocks the harness owns:

    <!-- generated: coverage-totals -->
    ...regenerated from the runs...
    <!-- end: coverage-totals -->

`harness paper` writes every piece to paper/generated/ (Markdown sections and PNG
figures) and refreshes the blocks in paper.md in place; `harness paper --check` fails
when a block no longer matches the runs, so no number in the report drifts from data.
Every number comes from harness.reporting.report, the library the CLI and notebooks use.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness import paths
from harness.errors import HarnessError
from harness.model import inputs
from harness.model.benchmarks import load_benchmarks
from harness.model.catalog import Catalog, load_catalog
from harness.model.config import load_config
from harness.model.peers import mapping_digest
from harness.model.vap import load_library as load_vap_library
from harness.reporting import peers as peers_report
from harness.reporting.coverage import (
    Coverage,
    compute_coverage,
    mutation_scores,
    reference_mutation_file,
)
from harness.reporting.peers import reference_peers_file
from harness.reporting.report import (
    benchmark_versions_text,
    changed_verdicts,
    defaulting_text,
    figure_combined,
    figure_node,
    figure_per_policy,
    figure_targets,
    fuzz_text,
    istio_oracle_text,
    latency_by_control,
    markdown_frame,
    markdown_table,
    mechanism_comparison,
    mutation_text,
    netpol_oracle_text,
    psa_summary,
    rbac_oracle_text,
    save_figure,
    summary_lines,
    target_summary,
    thesis_consistency,
    totals_frame,
    webhook_overhead,
)
from harness.reporting.results import Run, load_run

# Targets that run on our machines, in the order the report shows them; the first
# present is the primary run (tables 6.1, 6.2 and figures 6.28-6.30 come from it).
REFERENCE_TARGETS = ("wasm", "embedded", "opa", "local", "kind", "vap")
PAPER_FILE = "paper.md"
GENERATED_DIR = "generated"
_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S
)


def reference_dir() -> Path:
    return paths.project_root() / "results" / "reference"


def paper_dir() -> Path:
    return paths.project_root() / "paper"


def reference_run_dirs(directory: Path | None = None) -> list[Path]:
    directory = directory or reference_dir()
    found = [directory / t for t in REFERENCE_TARGETS if (directory / t / "run.json").is_file()]
    if not found:
        raise HarnessError(
            f"{directory}: no reference run (expected {', '.join(REFERENCE_TARGETS)})"
        )
    return found


@dataclass(frozen=True)
class Evidence:
    """The runs a report is built from, with the primary run's coverage."""

    runs: list[Run]
    catalog: Catalog
    coverage: Coverage

    @property
    def primary(self) -> Run:
        return self.runs[0]

    @classmethod
    def load(cls, run_dirs: list[Path] | None = None, catalog: Catalog | None = None) -> Evidence:
        catalog = catalog or load_catalog()
        runs = [load_run(d) for d in (run_dirs or reference_run_dirs())]
        runs.sort(key=lambda r: _target_rank(str(r.meta.get("target"))))
        mutation = mutation_scores(runs[0].meta.get("inputs"))
        return cls(runs, catalog, compute_coverage(catalog, runs[0].records, None, mutation))


def _target_rank(target: str) -> int:
    return (
        REFERENCE_TARGETS.index(target) if target in REFERENCE_TARGETS else len(REFERENCE_TARGETS)
    )


def environment(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        m = run.meta
        machine = m.get("machine", {})
        commit = m.get("commit", {})
        rows.append(
            {
                "target": str(m.get("target")),
                "engine": f"{m.get('engine')} {m.get('engine_version', '')}".strip(),
                "Kubernetes": str(m.get("kubernetes", "")),
                "cluster": cluster_text(m),
                "N per fixture": str(m.get("iterations")),
                "timed decisions": f"{len(run.replayed_records):,}",
                "wall": f"{m.get('wall_seconds', 0):.0f} s",
                "commit": f"{str(commit.get('sha', ''))[:7]}"
                + (" (dirty)" if commit.get("dirty") else ""),
                "machine": f"{machine.get('processor', '')}, {machine.get('cpus')} CPUs, "
                f"Python {machine.get('python')}",
            }
        )
    return markdown_frame(pd.DataFrame(rows))


def cluster_text(meta: dict[str, Any]) -> str:
    """What stood behind the API server: no nodes (local) or kind's nodes with a CNI,
    and whether that CNI was seen to enforce NetworkPolicy."""
    if meta.get("target") in ("local", "vap"):
        return "etcd + kube-apiserver, no nodes"
    if not meta.get("cni"):
        return ""
    probe = meta.get("network_policy_probe") or {}
    seen = "enforces NetworkPolicy (probe)" if probe.get("enforces") else "probe failed"
    return f"kind, 2 nodes, {meta['cni']}: {seen}"


def sections(evidence: Evidence) -> dict[str, str]:
    """Every generated Markdown section, by block name."""
    primary, coverage = evidence.primary, evidence.coverage
    latency = latency_by_control(primary)
    out = {
        "headline": "".join(f"- {line}\n" for line in summary_lines(coverage, latency, primary)),
        "environment": environment(evidence.runs),
        "coverage-totals": markdown_frame(totals_frame(coverage)),
        "table-6.1-nsa": markdown_table(coverage, latency, "nsa"),
        "table-6.2-cis": markdown_table(coverage, latency, "cis"),
        "cis-versions": benchmark_versions_text(coverage, load_benchmarks(evidence.catalog)),
        "changed-verdicts": markdown_frame(changed_verdicts(coverage)),
        "latency": markdown_frame(target_summary(evidence.runs, evidence.catalog), digits=3),
        "thesis-consistency": markdown_frame(thesis_consistency(evidence.catalog)),
    }
    for run in evidence.runs:
        overhead = webhook_overhead(run)
        if len(overhead):
            out[f"webhook-overhead-{run.meta.get('target')}"] = markdown_frame(overhead, digits=3)
        psa = psa_summary(run)
        if len(psa) and "psa-agreement" not in out:  # the first run with PSA (local)
            agree = int(psa["agree"].sum())
            disagree = psa[~psa["agree"]][["fixture", "nsa_1_4", "psa"]]
            text = f"{agree} of {len(psa)} pod fixtures: PSA `restricted` and NSA-1.4 agree.\n"
            if len(disagree):
                text += "\n" + markdown_frame(disagree)
            out["psa-agreement"] = text
    fuzz_summary = reference_dir() / "fuzz" / "summary.json"
    if fuzz_summary.is_file():
        out["fuzz"] = fuzz_text(json.loads(fuzz_summary.read_text()))
    for block, folder, command, render in (
        ("defaulting", "defaulting", "defaulting-oracle", defaulting_text),
        ("rbac-oracle", "rbac", "rbac-oracle", rbac_oracle_text),
        ("netpol-oracle", "netpol", "netpol-oracle", netpol_oracle_text),
        ("istio-oracle", "istio", "istio-oracle", istio_oracle_text),
    ):
        summary = reference_dir() / folder / "summary.json"
        out[block] = (
            render(json.loads(summary.read_text()))
            if summary.is_file()
            else f"No {command} run in {summary.parent} (python -m harness {command} --out it).\n"
        )
    out["peers"] = peers_text(evidence.catalog)
    out["vap"] = vap_text(evidence.runs)
    out["mechanisms"] = markdown_frame(mechanism_matrix(evidence.runs, evidence.catalog))
    mutation = reference_mutation_file()
    out["mutation"] = (
        mutation_text(json.loads(mutation.read_text()))
        if mutation.is_file()
        else f"No mutation run in {mutation.parent} (python -m harness mutate --out it).\n"
    )
    return out


def figures(evidence: Evidence, directory: Path) -> list[Path]:
    primary = evidence.primary
    written = []
    for name, fig in (
        ("figure-6.28-node", figure_node(primary)),
        ("figure-6.29-combined", figure_combined(primary)),
        ("figure-6.30-per-policy", figure_per_policy(primary, evidence.catalog)),
        ("figure-targets", figure_targets(evidence.runs, evidence.catalog)),
    ):
        written += save_figure(fig, directory / name, formats=("png",))
    return written


def refresh_blocks(text: str, generated: dict[str, str]) -> str:
    """Replace the body of every block the text has with the generated section."""

    def body(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in generated:
            raise HarnessError(f"{PAPER_FILE}: no generated section named {name!r}")
        start: str = match.group(1)
        end: str = match.group(4)
        return start + generated[name] + end

    return _BLOCK.sub(body, text)


def stale_runs(evidence: Evidence) -> list[str]:
    """Why a run no longer stands for today's policies, fixtures, catalog or config: its
    recorded fingerprint differs, or (runs older than fingerprints) git shows policies/
    or scenarios/ changed since its commit, or it was made from a dirty tree."""
    problems = []
    today = inputs.digest(load_config())
    for run in evidence.runs:
        where = run.directory
        commit = run.meta.get("commit") or {}
        if commit.get("dirty"):
            problems.append(f"{where}: made from a work tree with uncommitted changes")
        recorded = run.meta.get("inputs")
        if recorded:
            parts = inputs.changed(recorded, today)
            if parts:
                problems.append(f"{where}: made with other {', '.join(parts)} than today's")
        if run.meta.get("target") == "vap" and run.meta.get("vap_digest") != inputs.vap_digest():
            problems.append(f"{where}: made with other policies/vap/ than today's")
        if not recorded and commit.get("sha") and _changed_since(commit["sha"]):
            problems.append(
                f"{where}: policies/ or scenarios/ changed since its commit {commit['sha'][:7]}"
            )
    peers = reference_peers_file()
    oracles = [
        reference_dir() / name / "summary.json"
        for name in ("fuzz", "defaulting", "rbac", "netpol", "istio")
    ]
    for made in (*oracles, reference_mutation_file(), peers):
        if not made.is_file():
            continue
        doc = json.loads(made.read_text())
        parts = inputs.changed(doc.get("inputs") or {}, today)
        if parts:
            problems.append(f"{made}: made with other {', '.join(parts)} than today's")
        if made == peers and doc["meta"].get("peers_mapping") != mapping_digest():
            problems.append(f"{peers}: made with another scenarios/peers.yaml than today's")
    return problems


def vap_text(runs: list[Run]) -> str:
    """The vap run: which controls a ValidatingAdmissionPolicy decides, what it and the
    OPA webhook add to the same API calls, and why the other controls have none."""
    library = load_vap_library()
    run = next((r for r in runs if r.meta.get("target") == "vap"), None)
    if run is None:
        return "No vap reference run (python -m harness run --target vap --out it).\n"
    table = mechanism_comparison(run)
    right = int(table["vap_right"].sum()) if len(table) else 0
    text = (
        f"{right} of {len(table)} admission controls with a ValidatingAdmissionPolicy decided "
        f"every fixture right (by verdict) on kube-apiserver {run.meta.get('engine_version')}, "
        f"N={run.meta.get('iterations')}; the OPA webhook decided "
        f"{int(table['webhook_right'].sum()) if len(table) else 0} of them right on the same "
        "requests. Added latency: the median of differences with the same API call judged by "
        "neither, paired by fixture and iteration (taken together).\n\n"
    )
    text += markdown_frame(table, digits=3) + "\n"
    for title, reasons in (
        ("CEL cannot decide", library.cannot),
        ("No policy written yet", library.unwritten),
    ):
        if reasons:
            text += f"\n{title}:\n\n" + "".join(f"- {c}: {r}\n" for c, r in reasons.items())
    return text


def mechanism_matrix(runs: list[Run], catalog: Catalog) -> pd.DataFrame:
    """Admission controls x the mechanisms that decide at admission: the OPA webhook
    (local target), a ValidatingAdmissionPolicy (vap target), Kyverno and Pod Security
    Admission (the peers run). ✓: every fixture decided as expected; else what went
    wrong; blank: not covered. A control decided at admission and elsewhere (also_at) is
    a row too, for its admission fixtures."""
    ids = [c.id for c in catalog.with_policy if "admission" in c.points]
    columns: dict[str, dict[str, str]] = {}
    library = load_vap_library()
    for target, label in (("local", "OPA webhook"), ("vap", "ValidatingAdmissionPolicy")):
        run = next((r for r in runs if r.meta.get("target") == target), None)
        if run is None:
            continue
        wrong = (
            (~run.policy_records["correct"].astype(bool))
            .groupby(run.policy_records["control"], observed=True)
            .sum()
        )
        column = {c: "✓" if n == 0 else f"{n} wrong" for c, n in wrong.items()}
        if target == "vap":
            column |= {c: "needs other objects" for c in library.cannot}
        columns[label] = column
    path = reference_peers_file()
    if path.is_file():
        doc = json.loads(path.read_text())
        peers = peers_report.matrix(doc, ids).set_index("control")
        for peer, label in (("kyverno", "Kyverno"), ("psa", "PSA")):
            if peer in peers.columns:
                columns[label] = peers[peer].to_dict()
    rows = [{"control": c, **{k: v.get(c, "") for k, v in columns.items()}} for c in ids]
    return pd.DataFrame(rows)


def peers_text(catalog: Catalog) -> str:
    """The peers tables from the committed peers run, or how to make one."""
    path = reference_peers_file()
    if not path.is_file():
        return f"No peers run in {path.parent} (python -m harness peers --out it).\n"
    doc = json.loads(path.read_text())
    ids = [c.id for c in catalog.controls]
    ran = ", ".join(f"{n} {s['version']}" for n, s in doc["peers"].items() if s["status"] == "ran")
    text = f"Peers run on every fixture of the controls each maps ({ran}).\n\n"
    text += markdown_frame(peers_report.per_peer(doc, len(ids))) + "\n"
    text += "Per control (✓: every fixture decided as ours; else the misses and false alarms):\n\n"
    return text + markdown_frame(peers_report.matrix(doc, ids))


def _changed_since(sha: str) -> bool:
    result = subprocess.run(
        [
            "git",
            "-C",
            str(paths.project_root()),
            "diff",
            "--quiet",
            sha,
            "--",
            "policies",
            "scenarios",
        ],
        capture_output=True,
        timeout=60,
    )
    return result.returncode != 0


def stale_files(evidence: Evidence, directory: Path) -> list[str]:
    """Generated Markdown files, and each run's derived files (coverage.json,
    latency.csv, tables, CSVs), that no longer match what the runs give today."""
    problems = []
    out = directory / GENERATED_DIR
    for name, text in sections(evidence).items():
        path = out / f"{name}.md"
        if not path.is_file() or path.read_text() != text:
            problems.append(f"{path}: differs from the runs (python -m harness paper rewrites it)")
    for run in evidence.runs:
        problems += _stale_derived(run, evidence.catalog)
    return problems


def _stale_derived(run: Run, catalog: Catalog) -> list[str]:
    """Recompute a run's report in a scratch copy of its data and compare."""
    from harness.reporting.report import write_report
    from harness.reporting.results import DATA_FILES

    with tempfile.TemporaryDirectory(prefix="pac-harness-derived-") as tmp:
        scratch = Path(tmp) / run.directory.name
        scratch.mkdir()
        for name in DATA_FILES:
            if (run.directory / name).is_file():
                shutil.copy(run.directory / name, scratch / name)
        report = write_report(scratch, catalog)
        problems = []
        for fresh in report.written:
            if fresh.suffix not in {".json", ".csv", ".md", ".tex"}:
                continue  # figures are not committed
            kept = run.directory / fresh.relative_to(scratch)
            if not kept.is_file() or kept.read_bytes() != fresh.read_bytes():
                problems.append(
                    f"{kept}: differs from what its records give "
                    f"(python -m harness report {run.directory} rewrites it)"
                )
        return problems


def stale_blocks(text: str, generated: dict[str, str]) -> list[str]:
    """Names of blocks whose text differs from what the runs generate now."""
    return [
        m.group("name")
        for m in _BLOCK.finditer(text)
        if generated.get(m.group("name")) != m.group("body")
    ]


def write_paper(evidence: Evidence, directory: Path | None = None) -> list[Path]:
    """paper/generated/* and the blocks of paper/paper.md, from the evidence."""
    directory = directory or paper_dir()
    out = directory / GENERATED_DIR
    out.mkdir(parents=True, exist_ok=True)
    generated = sections(evidence)
    written = []
    for name, text in generated.items():
        path = out / f"{name}.md"
        path.write_text(text)
        written.append(path)
    written += figures(evidence, out)
    paper = directory / PAPER_FILE
    if paper.is_file():
        paper.write_text(refresh_blocks(paper.read_text(), generated))
        written.append(paper)
    return written
