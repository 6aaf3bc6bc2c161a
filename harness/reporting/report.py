"""Tables, figures and the summary, regenerated from a run folder.

This is the one analysis library: `harness run`, `harness report`, the notebooks and the
paper all call it, so a number is never computed two ways.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from harness.model.benchmarks import DEFAULT as DEFAULT_BENCHMARK
from harness.model.benchmarks import Benchmark
from harness.model.catalog import FRAMEWORKS, Catalog, load_catalog
from harness.model.modes import BASELINE_MODE, MECHANISMS_MODE, NONE, POLICY, PSA, PSA_MODE
from harness.reporting.coverage import (
    ENFORCED,
    NOT_COVERED,
    THESIS_TOTALS,
    BenchmarkRow,
    ControlCoverage,
    Coverage,
    benchmark_rows,
    compute_coverage,
    mutation_scores,
)
from harness.reporting.results import Run, load_run

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One box of a box plot: its latencies.
_Box = Sequence[float] | np.ndarray[Any, np.dtype[np.float64]]

# The thesis's boxplots put 0.35 % of samples beyond each whisker (section 6.6).
WHISKERS = (0.35, 99.65)
THESIS_POLICY_MS = 5.0
THESIS_COMBINED_MS = 6.0
THESIS_NODE_MS = 20.0
NODE_PROCESS = "node-check process"
COVERAGE_FILE = "coverage.json"
LATENCY_FILE = "latency.csv"


@dataclass(frozen=True)
class LatencyStats:
    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, latency_ns: pd.Series) -> LatencyStats:
        ms = latency_ns.astype("float64") / 1e6
        return cls(len(ms), float(ms.quantile(0.5)), float(ms.quantile(0.99)), float(ms.mean()))


def admission_ids(catalog: Catalog) -> set[str]:
    return {c.id for c in catalog if c.enforcement == "admission"}


def latency_by_control(run: Run) -> pd.DataFrame:
    """p50/p99/mean per control, per combined query (ALL, ALL-NODE) and for whole
    node-check processes."""
    series: list[tuple[str, pd.Series]] = []
    for control, frame in run.policy_records.groupby("control", observed=True):
        series.append((str(control), frame["latency_ns"]))
    for label, frame in run.combined_records.groupby("control", observed=True):
        series.append((str(label), frame["latency_ns"]))
    process = run.extras.get("node_check_process")
    if process:
        series.append((NODE_PROCESS, pd.Series([r["latency_ns"] for r in process])))
    rows = []
    for label, values in series:
        s = LatencyStats.of(values)
        rows.append(
            {
                "control": label,
                "n": s.n,
                "p50_ms": s.p50_ms,
                "p99_ms": s.p99_ms,
                "mean_ms": s.mean_ms,
            }
        )
    return pd.DataFrame(rows, columns=["control", "n", "p50_ms", "p99_ms", "mean_ms"])


# ---------------------------------------------------------------- tables (6.1, 6.2)


def coverage_rows(coverage: Coverage, latency: pd.DataFrame, framework: str) -> list[list[str]]:
    p50 = dict(zip(latency["control"], latency["p50_ms"], strict=True))
    p99 = dict(zip(latency["control"], latency["p99_ms"], strict=True))
    rows = []
    for c in coverage.framework(framework):
        rows.append(
            [
                c.id,
                c.title,
                c.thesis_assessment,
                c.thesis_verdict,
                c.assessment,
                c.symbol,
                _fmt_mutation(c),
                _fmt_ms(p50.get(c.id)),
                _fmt_ms(p99.get(c.id)),
            ]
        )
    return rows


HEADERS = [
    "Number",
    "Control",
    "Asses. (thesis)",
    "Impl. (thesis)",
    "Asses. (ours)",
    "Status (ours)",
    "Mutants killed (rule / clause)",
    "p50 ms",
    "p99 ms",
]


def _fmt_mutation(c: ControlCoverage) -> str:
    if c.mutation_rule is None and c.mutation_clause is None:
        return ""
    return " / ".join(
        "–" if v is None else f"{v:.0%}" for v in (c.mutation_rule, c.mutation_clause)
    )


def _fmt_ms(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.3f}"


def _total_row(coverage: Coverage, framework: str) -> list[str]:
    t = coverage.totals()[framework]
    thesis = THESIS_TOTALS[framework]
    return [
        "",
        "**Total**",
        "",
        f"**{thesis[0]}/{thesis[1]}**",
        "",
        f"**{t['enforced']}/{t['total']}**",
        "",
        "",
        "",
    ]


def markdown_table(coverage: Coverage, latency: pd.DataFrame, framework: str) -> str:
    rows = [*coverage_rows(coverage, latency, framework), _total_row(coverage, framework)]
    return markdown_frame(pd.DataFrame(rows, columns=HEADERS))


def latex_table(coverage: Coverage, latency: pd.DataFrame, framework: str) -> str:
    label = {"nsa": "NSA/CISA guideline coverage", "cis": "CIS benchmark section 5 coverage"}[
        framework
    ]
    body = [
        " & ".join(_tex(cell) for cell in row) + r" \\"
        for row in coverage_rows(coverage, latency, framework)
    ]
    t = coverage.totals()[framework]
    thesis = THESIS_TOTALS[framework]
    total = rf" & \textbf{{Total}} & & \textbf{{{thesis[0]}/{thesis[1]}}} & & \textbf{{{t['enforced']}/{t['total']}}} & & & \\"
    return "\n".join(
        [
            r"\begin{longtable}{lllllllrr}",
            rf"\caption{{{label}: the thesis's verdict beside our computed status.}}\\",
            r"\toprule",
            " & ".join(_tex(h) for h in HEADERS) + r" \\",
            r"\midrule",
            *body,
            r"\midrule",
            total,
            r"\bottomrule",
            r"\end{longtable}",
            "",
        ]
    )


def _tex(text: str) -> str:
    out = text.replace("\\", r"\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    return out.replace("✓", r"\checkmark{}").replace("×", r"$\times$")


# ---------------------------------------------------------------- figures (6.29, 6.30)


def figure_per_policy(run: Run, catalog: Catalog) -> Figure | None:
    """Thesis figure 6.30: one box per admission control, each policy on its own."""
    frame = run.policy_records
    present = set(frame["control"].astype(str))
    order = [c.id for c in catalog if c.id in present and c.enforcement == "admission"]
    if not order:
        return None
    data = [frame.loc[frame["control"] == cid, "latency_ns"].to_numpy() / 1e6 for cid in order]
    decisions = sum(len(d) for d in data)
    return _log_boxplot(
        data,
        order,
        0.28,
        "decision latency (ms, log scale)",
        f"Each policy on its own (thesis figure 6.30)\n{_engine_label(run)}, "
        f"n={run.meta.get('iterations')} per fixture, {decisions:,} decisions",
        (THESIS_POLICY_MS, f"thesis: about {THESIS_POLICY_MS:.0f} ms"),
    )


def figure_combined(run: Run) -> Figure | None:
    """Thesis figure 6.29: all resource-deployment policies evaluated as one query."""
    frame = run.combined_records
    frame = frame[frame["control"] == "ALL"]
    if not len(frame):
        return None
    return _log_boxplot(
        [frame["latency_ns"].to_numpy() / 1e6],
        ["all RD policies"],
        1.0,
        "decision latency (ms, log scale)",
        f"All admission policies as one query (thesis figure 6.29)\n{_engine_label(run)}, "
        f"{frame['fixture'].nunique()} fixtures, n={len(frame):,}",
        (THESIS_COMBINED_MS, f"thesis: about {THESIS_COMBINED_MS:.0f} ms"),
    )


def figure_node(run: Run) -> Figure | None:
    """Thesis figure 6.28: all node-configuration policies together. Two boxes: the warm
    in-process evaluation per snapshot, and whole `node-check` processes (interpreter
    start, collection, compilation, evaluation) as kubelet would wait for them."""
    warm = run.combined_records
    warm = warm[warm["control"] == "ALL-NODE"]["latency_ns"].to_numpy() / 1e6
    cold = [r["latency_ns"] / 1e6 for r in run.extras.get("node_check_process", [])]
    data, labels = [], []
    if len(warm):
        data.append(warm)
        labels.append(f"NC policies, warm (n={len(warm):,})")
    if cold:
        data.append(cold)
        labels.append(f"node-check process (n={len(cold)})")
    return _log_boxplot(
        data,
        labels,
        1.0,
        "latency (ms, log scale)",
        f"Node configuration checks (thesis figure 6.28)\n{_engine_label(run)}",
        (THESIS_NODE_MS, f"thesis: about {THESIS_NODE_MS:.0f} ms"),
    )


def figure_targets(runs: list[Run], catalog: Catalog) -> Figure | None:
    """Each policy on its own, pooled over admission controls, one box per target (and
    for the local control plane the same API calls without the webhook): where the
    milliseconds go between an engine and a real admission chain."""
    admission = admission_ids(catalog)
    data, labels = [], []
    for run in runs:
        rd = run.policy_records[run.policy_records["control"].isin(admission)]
        if len(rd):
            data.append(rd["latency_ns"].to_numpy() / 1e6)
            labels.append(_engine_label(run))
        baseline = run.mode_records(BASELINE_MODE)
        if len(baseline):
            data.append(baseline["latency_ns"].to_numpy() / 1e6)
            labels.append(f"{run.meta.get('target')}: API call without webhook")
    return _log_boxplot(
        data,
        labels,
        0.6,
        "decision latency per policy (ms, log scale)",
        "Per-policy latency by target, all admission controls pooled",
        (THESIS_POLICY_MS, f"thesis: about {THESIS_POLICY_MS:.0f} ms"),
    )


def _log_boxplot(
    data: list[_Box],
    labels: list[str],
    inches_per_box: float,
    xlabel: str,
    title: str,
    thesis: tuple[float, str],
) -> Figure | None:
    """Boxes on a log axis, so that a few slow outliers on a busy machine cannot squeeze
    every box into a corner, with the thesis's value marked; None without data."""
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(8, 1.6 + inches_per_box * len(data)))
    _boxplot(ax, data, labels)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ms, text = thesis
    ax.axvline(ms, linestyle="--", color="grey", linewidth=1)
    ax.annotate(
        text,
        (ms, 1),
        xycoords=("data", "axes fraction"),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=8,
        color="grey",
    )
    low = min(float(np.min(d)) for d in data if len(d))
    high = max(float(np.max(d)) for d in data if len(d))
    ax.set_xlim(min(low, ms) / 1.5, max(high, ms) * 1.5)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    return fig


def plot_per_policy(run: Run, catalog: Catalog, path_stem: Path) -> list[Path]:
    return save_figure(figure_per_policy(run, catalog), path_stem)


def plot_combined(run: Run, path_stem: Path) -> list[Path]:
    return save_figure(figure_combined(run), path_stem)


def plot_node(run: Run, path_stem: Path) -> list[Path]:
    return save_figure(figure_node(run), path_stem)


def _boxplot(ax: Axes, data: list[_Box], labels: list[str]) -> None:
    ax.boxplot(
        data,
        orientation="horizontal",
        whis=WHISKERS,
        tick_labels=labels,
        flierprops={
            "marker": ".",
            "markersize": 2,
            "markerfacecolor": "red",
            "markeredgecolor": "red",
        },
        medianprops={"color": "black"},
    )
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="y", labelsize=8)


def _engine_label(run: Run) -> str:
    return f"{run.meta.get('target')}: {run.meta.get('engine')} {run.meta.get('engine_version', '')}".strip()


def save_figure(
    fig: Figure | None, stem: Path, formats: tuple[str, ...] = ("png", "pdf")
) -> list[Path]:
    if fig is None:
        return []
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    out = []
    for ext in formats:
        path = stem.parent / f"{stem.name}.{ext}"
        fig.savefig(path, dpi=150)
        out.append(path)
    plt.close(fig)
    return out


# ---------------------------------------------------------------- local control plane


def webhook_overhead(run: Run) -> pd.DataFrame:
    """Per control: API call p50/p99 with the webhook, without it (baseline on the same
    fixtures), and the median of the paired differences (iteration i with webhook minus
    iteration i without, same fixture): what the policy adds to deploying a resource."""
    base = _baseline(run)
    if not len(base):
        return pd.DataFrame()
    rows = []
    for control, frame in run.policy_records.groupby("control", observed=True):
        paired = frame.merge(base, on=["fixture", "iteration"], suffixes=("", "_base"))
        if not len(paired):
            continue
        diff = (paired["latency_ns"] - paired["latency_ns_base"]) / 1e6
        with_hook = LatencyStats.of(paired["latency_ns"])
        without = LatencyStats.of(paired["latency_ns_base"])
        rows.append(
            {
                "control": str(control),
                "n": len(paired),
                "with_webhook_p50_ms": with_hook.p50_ms,
                "with_webhook_p99_ms": with_hook.p99_ms,
                "without_p50_ms": without.p50_ms,
                "without_p99_ms": without.p99_ms,
                "added_p50_ms": float(diff.median()),
            }
        )
    return pd.DataFrame(rows)


def mechanism_comparison(run: Run) -> pd.DataFrame:
    """vap target: per control, the API call with no admission check, what the
    ValidatingAdmissionPolicy and the OPA webhook each add to it (median of differences
    paired by fixture and iteration, measured together), and whether each decided every
    fixture right (by verdict). Admitted and refused requests are told apart: a refusal
    ends the request early (no dry-run write follows), so there a policy in the API
    server costs less than nothing, while an admitted request pays for it in full."""
    frame = run.mode_records(MECHANISMS_MODE)
    if not len(frame):
        return pd.DataFrame()
    columns = ["mechanism", "control", "fixture", "iteration", "latency_ns", "decision"]
    frame = frame[columns].astype({c: str for c in ("mechanism", "control", "fixture", "decision")})
    expected = run.policy_records[["fixture", "expected"]].astype(str).drop_duplicates()
    wide = frame.pivot_table(
        index=["control", "fixture", "iteration"], columns="mechanism", values="latency_ns"
    ).reset_index()
    wide = wide.merge(expected, on="fixture")
    verdicts = frame.pivot_table(
        index=["control", "fixture"], columns="mechanism", values="decision", aggfunc=set
    ).reset_index()
    verdicts = verdicts.merge(expected, on="fixture")
    out = []
    for control, group in wide.groupby("control"):
        judged = verdicts[verdicts["control"] == control]
        row = {
            "control": str(control),
            "fixtures": int(group["fixture"].nunique()),
            "vap_right": _always_expected(judged, "vap"),
            "webhook_right": _always_expected(judged, "webhook"),
            "none_p50_ms": float(group[NONE].median() / 1e6),
        }
        for expect in ("allow", "deny"):
            part = group[group["expected"] == expect]
            for mechanism in ("vap", "webhook"):
                added = (part[mechanism] - part[NONE]).median() / 1e6 if len(part) else None
                row[f"{mechanism}_added_{expect}_p50_ms"] = added
        out.append(row)
    return pd.DataFrame(out)


def _always_expected(verdicts: pd.DataFrame, mechanism: str) -> bool:
    """Every decision the mechanism made on each fixture was the fixture's expectation."""
    pairs = zip(verdicts[mechanism], verdicts["expected"], strict=True)
    return all(seen == {expected} for seen, expected in pairs)


# ---------------------------------------------------------------- engines side by side


def run_labels(runs: list[Run]) -> list[str]:
    """A name per run for column headers: its target where that is unique among the
    runs, else target@start time where that is, else the run folder's name."""
    targets = [str(r.meta.get("target")) for r in runs]
    stamped = [f"{t}@{r.meta.get('started', '')}" for t, r in zip(targets, runs, strict=True)]
    labels = []
    for target, stamp, run in zip(targets, stamped, runs, strict=True):
        if targets.count(target) == 1:
            labels.append(target)
        elif stamped.count(stamp) == 1:
            labels.append(stamp)
        else:
            labels.append(run.directory.name)
    return labels


def engine_comparison(runs: list[Run]) -> pd.DataFrame:
    """Per control: p50/p99 of each run, plus OPA's eval-only time where a run holds
    `opa bench` results. Columns are named <label>_p50_ms, <label>_p99_ms (run_labels);
    the eval-only columns are opa_eval_* for one bench run, <label>_opa_eval_* for more."""
    table: pd.DataFrame | None = None
    labels = run_labels(runs)
    benched = sum(1 for r in runs if r.extras.get("opa_bench"))
    for run, label in zip(runs, labels, strict=True):
        lat = latency_by_control(run)[["control", "p50_ms", "p99_ms"]]
        lat = lat.rename(columns={"p50_ms": f"{label}_p50_ms", "p99_ms": f"{label}_p99_ms"})
        table = lat if table is None else table.merge(lat, on="control", how="outer")
        bench = run.extras.get("opa_bench")
        if bench:
            frame = pd.DataFrame([b for b in bench if "eval_p50_ns" in b])
            if len(frame):
                prefix = "opa_eval" if benched == 1 else f"{label}_opa_eval"
                grouped = frame.groupby("control").agg(
                    **{
                        f"{prefix}_p50_ms": ("eval_p50_ns", lambda s: s.median() / 1e6),
                        f"{prefix}_p99_ms": ("eval_p99_ns", lambda s: s.max() / 1e6),
                    }
                )
                table = table.merge(grouped.reset_index(), on="control", how="outer")
    if table is None:
        return pd.DataFrame()
    order = {c.id: i for i, c in enumerate(load_catalog())}
    for i, label in enumerate(("ALL", "ALL-NODE", NODE_PROCESS)):
        order[label] = len(order) + i
    return table.sort_values("control", key=lambda s: s.map(order)).reset_index(drop=True)


def comparison_markdown(table: pd.DataFrame) -> str:
    return markdown_frame(table, digits=3)


# ---------------------------------------------------------------- summary and regeneration


def summary_lines(coverage: Coverage, latency: pd.DataFrame, run: Run) -> list[str]:
    totals = coverage.totals()
    lines = []
    for name in [*FRAMEWORKS, "all"]:
        t = totals[name]
        thesis = THESIS_TOTALS[name]
        label = FRAMEWORKS.get(name, "All")
        extra = ", ".join(
            f"{t[k]} {k.replace('_', ' ')}"
            for k in (
                "partial",
                "failing",
                "incomplete",
                "pending",
                "not_enforceable",
                "out_of_scope",
                "not_run",
            )
            if t[k]
        )
        lines.append(
            f"{label:>4}: {t['enforced']}/{t['total']} enforced from fixtures"
            f" (thesis {thesis[0]}/{thesis[1]})" + (f"; {extra}" if extra else "")
        )
    rd = {c.id for c in coverage.controls if c.enforcement == "admission"}
    per_policy = latency[latency["control"].isin(rd)]
    if len(per_policy):
        records = run.policy_records
        pooled = LatencyStats.of(records[records["control"].isin(rd)]["latency_ns"])
        lines.append(
            f"per policy: p50 {pooled.p50_ms:.3f} ms, p99 {pooled.p99_ms:.3f} ms pooled over "
            f"{len(per_policy)} controls (medians {per_policy['p50_ms'].min():.3f}-{per_policy['p50_ms'].max():.3f} ms;"
            f" thesis: medians below about {THESIS_POLICY_MS:.0f} ms)"
        )
    combined = latency[latency["control"] == "ALL"]
    if len(combined):
        row = combined.iloc[0]
        lines.append(
            f"all RD policies as one query: p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms"
            f" (thesis: about {THESIS_COMBINED_MS:.0f} ms)"
        )
    for label, what in (
        ("ALL-NODE", "node policies together, warm"),
        (NODE_PROCESS, "whole node-check process, cold"),
    ):
        row = latency[latency["control"] == label]
        if len(row):
            lines.append(
                f"{what}: p50 {row.iloc[0]['p50_ms']:.3f} ms, p99 {row.iloc[0]['p99_ms']:.3f} ms"
                f" (thesis: about {THESIS_NODE_MS:.0f} ms for its node script)"
            )
    failing = [c for c in coverage.controls if c.status == "failing"]
    wrong = [c.id for c in failing if c.wrong_decisions]
    if wrong:
        lines.append(
            "failing controls (a fixture decided against its expectation): " + ", ".join(wrong)
        )
    lacking = [c.id for c in failing if not c.wrong_decisions]
    if lacking:
        lines.append(
            "failing controls (no allow or no deny fixture ran at one of their points): "
            + ", ".join(lacking)
        )
    unfinished = [c.id for c in coverage.controls if c.status == "incomplete"]
    if unfinished:
        lines.append(
            "not complete (the run stopped before all their fixtures ran, or this target "
            "cannot decide one of their enforcement points): " + ", ".join(unfinished)
        )
    return lines


@dataclass(frozen=True)
class Report:
    run: Run
    coverage: Coverage
    latency: pd.DataFrame
    written: list[Path]

    def summary(self) -> list[str]:
        return summary_lines(self.coverage, self.latency, self.run)


def planned_fixtures(run: Run, catalog: Catalog) -> dict[str, int] | None:
    """For a run that did not finish: fixtures per control it set out to replay."""
    if run.meta.get("complete", True):
        return None
    from harness.model.fixtures import load_folder

    planned = {}
    for control_id in run.meta.get("controls", []):
        control = catalog.get(control_id)
        if control.fixtures:
            planned[control_id] = len(load_folder(control.fixtures))
    return planned


def write_report(run_dir: Path, catalog: Catalog | None = None) -> Report:
    """Regenerate coverage.json, latency.csv, tables/ and figures/ from the run's records."""
    catalog = catalog or load_catalog()
    run = load_run(run_dir)
    coverage = compute_coverage(
        catalog,
        run.records,
        planned_fixtures(run, catalog),
        mutation_scores(run.meta.get("inputs")),
    )
    latency = latency_by_control(run)
    written: list[Path] = []
    cov_path = run.directory / COVERAGE_FILE
    cov_path.write_text(json.dumps(coverage.to_json(), indent=1, ensure_ascii=False) + "\n")
    lat_path = run.directory / LATENCY_FILE
    latency.to_csv(lat_path, index=False, float_format="%.4f")
    written += [cov_path, lat_path]
    psa = psa_summary(run)
    if len(psa):
        path = run.directory / "psa_agreement.csv"
        psa.to_csv(path, index=False)
        written.append(path)
    overhead = webhook_overhead(run)
    if len(overhead):
        path = run.directory / "webhook_overhead.csv"
        overhead.to_csv(path, index=False, float_format="%.4f")
        written.append(path)
    mechanisms = mechanism_comparison(run)
    if len(mechanisms):
        path = run.directory / "vap_vs_webhook.csv"
        mechanisms.to_csv(path, index=False, float_format="%.4f")
        written.append(path)
    tables = run.directory / "tables"
    tables.mkdir(exist_ok=True)
    for name, number in (("nsa", "6.1"), ("cis", "6.2")):
        md = tables / f"table-{number}-{name}.md"
        md.write_text(markdown_table(coverage, latency, name))
        tex = tables / f"table-{number}-{name}.tex"
        tex.write_text(latex_table(coverage, latency, name))
        written += [md, tex]
    figures = run.directory / "figures"
    if len(run.policy_records):
        written += plot_per_policy(run, catalog, figures / "figure-6.30-per-policy")
    written += plot_combined(run, figures / "figure-6.29-combined")
    written += plot_node(run, figures / "figure-6.28-node")
    return Report(run, coverage, latency, written)


# ---------------------------------------------------------------- frames for notebooks and paper


def coverage_frame(coverage: Coverage) -> pd.DataFrame:
    """One row per control: the thesis's assessment and verdict beside ours."""
    return pd.DataFrame(
        [
            {
                "id": c.id,
                "framework": FRAMEWORKS[c.framework],
                "title": c.title,
                "thesis_assessment": c.thesis_assessment,
                "thesis": c.thesis_verdict,
                "assessment": c.assessment,
                "enforcement": c.enforcement,
                "ours": c.symbol,
                "differs": c.differs_from_thesis,
            }
            for c in coverage.controls
        ]
    )


def totals_frame(coverage: Coverage) -> pd.DataFrame:
    """Per framework and overall: the thesis's enforceable count beside ours, with how
    the rest of ours divides."""
    rows = []
    for name, t in coverage.totals().items():
        thesis = THESIS_TOTALS[name]
        rows.append(
            {
                "framework": FRAMEWORKS.get(name, "All"),
                "thesis": f"{thesis[0]}/{thesis[1]}",
                "ours": f"{t['enforced']}/{t['total']}",
                "partial": t["partial"],
                "not enforceable": t["not_enforceable"],
                "out of scope": t["out_of_scope"],
                "pending": t["pending"],
                "failing": t["failing"],
            }
        )
    return pd.DataFrame(rows)


def changed_verdicts(coverage: Coverage) -> pd.DataFrame:
    """Controls whose status, computed from fixtures, differs from the thesis's verdict,
    with our rationale from the catalog."""
    return pd.DataFrame(
        [
            {
                "id": c.id,
                "title": c.title,
                "thesis": c.thesis_verdict,
                "ours": c.symbol,
                "enforced at": c.enforcement,
                "why": " ".join(c.rationale.split()),
            }
            for c in coverage.differences
        ],
        columns=["id", "title", "thesis", "ours", "enforced at", "why"],
    )


def thesis_consistency(catalog: Catalog) -> pd.DataFrame:
    """What the thesis's own tables say against its summary claims: its totals recounted
    from its table rows, and its resource-deployment controls that the table does not
    mark implementable (section 7.2 says all 29 are)."""
    rows = []
    # The thesis's rows: the controls with its verdict (not those added since).
    table = [(c, c.thesis) for c in catalog if c.thesis is not None]
    for name, (claimed, total) in THESIS_TOTALS.items():
        controls = [t for c, t in table if name == "all" or c.framework == name]
        counted = sum(t.verdict == "✓" for t in controls)
        rows.append(
            {
                "check": f"{FRAMEWORKS.get(name, 'All')} total",
                "claimed": f"{claimed}/{total}",
                "from its table": f"{counted}/{len(controls)}",
                "consistent": counted == claimed and len(controls) == total,
            }
        )
    rd = [(c, t) for c, t in table if t.assessment == "RD"]
    not_implementable = [c.id for c, t in rd if t.verdict != "✓"]
    rows.append(
        {
            "check": "RD controls implementable (section 7.2: all)",
            "claimed": f"{len(rd)}/{len(rd)}",
            "from its table": f"{len(rd) - len(not_implementable)}/{len(rd)}"
            + (f" ({', '.join(not_implementable)} marked otherwise)" if not_implementable else ""),
            "consistent": not not_implementable,
        }
    )
    nc = [t for _, t in table if t.assessment == "NC" and t.verdict != "OOS"]
    nc_ok = sum(t.verdict == "✓" for t in nc)
    rows.append(
        {
            "check": "NC controls implementable, out of scope excluded (section 7.2: 5 of 16)",
            "claimed": "5/16",
            "from its table": f"{nc_ok}/{len(nc)}",
            "consistent": (nc_ok, len(nc)) == (5, 16),
        }
    )
    return pd.DataFrame(rows)


def _pooled(values: pd.Series | list[float]) -> LatencyStats | None:
    series = pd.Series(values, dtype="float64")
    return LatencyStats.of(series) if len(series) else None


def target_summary(runs: list[Run], catalog: Catalog) -> pd.DataFrame:
    """The thesis's three latency questions (per policy, all policies at once, node
    checks) answered by every run's target, beside the thesis's figure."""
    admission = admission_ids(catalog)
    rows = []

    def add(measure: str, run: Run, what: str, stats: LatencyStats | None, thesis: float) -> None:
        if stats is not None:
            rows.append(
                {
                    "measure": measure,
                    "target": f"{run.meta.get('target')}: {what}",
                    "n": stats.n,
                    "p50_ms": stats.p50_ms,
                    "p99_ms": stats.p99_ms,
                    "thesis_ms": thesis,
                }
            )

    for run in runs:
        policy = run.policy_records
        rd = policy[policy["control"].isin(admission)]["latency_ns"]
        add("per policy", run, str(run.meta.get("engine")), _pooled(rd), THESIS_POLICY_MS)
        bench = [b for b in run.extras.get("opa_bench", []) if "eval_p50_ns" in b]
        eval_rd = [b["eval_p50_ns"] for b in bench if b["control"] in admission]
        add(
            "per policy", run, "opa eval-only (p50 per fixture)", _pooled(eval_rd), THESIS_POLICY_MS
        )
        base = _baseline(run)
        if len(base):
            add(
                "per policy",
                run,
                "API call without webhook",
                _pooled(base["latency_ns"]),
                THESIS_POLICY_MS,
            )
            paired = policy[policy["control"].isin(admission)].merge(
                base, on=["fixture", "iteration"], suffixes=("", "_base")
            )
            added = paired["latency_ns"] - paired["latency_ns_base"]
            add(
                "per policy", run, "added by the webhook (paired)", _pooled(added), THESIS_POLICY_MS
            )
        combined = run.combined_records
        for label, measure, thesis in (
            ("ALL", "all RD policies as one query", THESIS_COMBINED_MS),
            ("ALL-NODE", "node policies together, warm", THESIS_NODE_MS),
        ):
            values = combined[combined["control"] == label]["latency_ns"]
            add(measure, run, str(run.meta.get("engine")), _pooled(values), thesis)
            evals = [b["eval_p50_ns"] for b in bench if b["control"] == label]
            add(measure, run, "opa eval-only (p50 per fixture)", _pooled(evals), thesis)
        process = run.extras.get("node_check_process")
        if process:
            values = [r["latency_ns"] for r in process]
            add("node-check process, cold", run, "whole process", _pooled(values), THESIS_NODE_MS)
    order = {m: i for i, m in enumerate(
        ["per policy", "all RD policies as one query", "node policies together, warm",
         "node-check process, cold"]
    )}  # fmt: skip
    frame = pd.DataFrame(rows, columns=["measure", "target", "n", "p50_ms", "p99_ms", "thesis_ms"])
    return frame.sort_values("measure", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


def psa_summary(run: Run) -> pd.DataFrame:
    """The real Pod Security Admission (restricted) beside NSA-1.4, per pod fixture:
    both verdicts, PSA's message where it refused, whether they agree."""
    first = {(d["fixture"], d["mechanism"]): d for d in run.decisions if d.get("mode") == PSA_MODE}
    fixtures = dict.fromkeys(str(f) for f in run.mode_records(PSA_MODE)["fixture"])
    rows = []
    for fixture in fixtures:
        ours, psa = first.get((fixture, POLICY)), first.get((fixture, PSA))
        if ours is None or psa is None:
            continue  # a run killed between the two
        rows.append(
            {
                "fixture": fixture,
                "nsa_1_4": ours["decision"],
                "psa": psa["decision"],
                "psa_message": " ".join(psa["messages"])[:300],
                "agree": ours["decision"] == psa["decision"],
            }
        )
    return pd.DataFrame(rows, columns=["fixture", "nsa_1_4", "psa", "psa_message", "agree"])


def _baseline(run: Run) -> pd.DataFrame:
    """The API calls without the webhook: fixture, iteration, latency_ns."""
    base = run.mode_records(BASELINE_MODE)[["fixture", "iteration", "latency_ns"]]
    return base.astype({"fixture": str, "iteration": "int64", "latency_ns": "int64"})


def fuzz_text(summary: dict[str, Any]) -> str:
    """A fuzz run's summary.json in words, with its disagreements as a table."""
    text = (
        f"Seed {summary['seed']}: {summary['corpus']:,} mutated pods from "
        f"{summary['bases']} base pods (every pod fixture, and each of them hardened to meet "
        f"restricted); the API "
        f"server rejected {summary['invalid']:,} as invalid, Pod Security Admission judged "
        f"{summary['judged']:,} and denied {summary['psa_denied']:,}. "
        f"{', '.join(summary['controls'])} disagree with it on "
        f"{len(summary['disagreements'])} pod(s), {summary['unexplained']} not deliberate.\n"
    )
    if summary["disagreements"]:
        frame = pd.DataFrame(summary["disagreements"])
        frame["mutations"] = frame["mutations"].map(" + ".join)
        text += "\n" + markdown_frame(frame[["control", "base", "mutations", "psa", "ours"]])
    return text


def defaulting_text(summary: dict[str, Any]) -> str:
    """A defaulting-oracle run's summary.json in words, with its disagreements."""
    sources = summary["by_source"]
    parts = [
        f"{name} {counts['agree'] + counts['disagree']:,} compared"
        + (f" ({counts['invalid']:,} refused by the API server)" if counts["invalid"] else "")
        for name, counts in sources.items()
    ]
    text = (
        f"Seed {summary['seed']}: {summary['corpus']:,} objects ({'; '.join(parts)}), "
        f"{summary['compared']:,} stored by kube-apiserver and defaulted offline, of "
        f"{len(summary['kinds'])} kinds; {len(summary['disagreements'])} disagreement(s) "
        "in verdict, messages or defaulted fields.\n"
    )
    text += disagreement_table(summary["disagreements"], ["id", "kind", "detail"])
    return text


def disagreement_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An oracle's disagreements as a table after its words ("" when there are none)."""
    if not rows:
        return ""
    frame = pd.DataFrame(rows)
    return "\n" + markdown_frame(frame[columns] if columns else frame)


def rbac_oracle_text(summary: dict[str, Any]) -> str:
    """An RBAC-oracle run's summary.json in words, with its disagreements."""
    broken = ", ".join(f"{c} {n}" for c, n in summary["denied_by_oracle"].items())
    text = (
        f"Seed {summary['seed']}: {summary['roles']:,} generated ClusterRoles "
        f"({summary['aggregated']} aggregated), each bound to a user of its own; the "
        f"authorizer let that user break the control for {broken}. "
        f"{len(summary['disagreements'])} disagreement(s) with the policies' verdicts.\n"
    )
    text += disagreement_table(summary["disagreements"])
    return text


def netpol_oracle_text(summary: dict[str, Any]) -> str:
    """A NetworkPolicy-oracle run's summary.json in words, with its disagreements."""
    kinds = ", ".join(f"{n} {k}" for k, n in summary["kinds"].items())
    broken = ", ".join(f"{c} {n}" for c, n in summary["broken_by_oracle"].items())
    text = (
        f"Seed {summary['seed']}: {summary['cases']:,} generated workloads ({kinds}) under "
        f"{summary['policies']:,} generated NetworkPolicies; by the matcher, on the pod each "
        f"workload's controller made, the control is broken for {broken}. "
        f"{len(summary['disagreements'])} disagreement(s) with the policies' verdicts.\n"
    )
    text += disagreement_table(summary["disagreements"])
    live = summary.get("live")
    if live:
        text += (
            f"\nLive, on {live['cluster']}: {live['cases']} of the cases (every kind), "
            f"{live['connections']} connections into and out of their pods on two ports, "
            f"{live['allowed_by_matcher']} allowed by the matcher; "
            f"{len(live['disagreements'])} where the network plugin did otherwise.\n"
        )
        text += disagreement_table(live["disagreements"])
    return text


def istio_oracle_text(summary: dict[str, Any]) -> str:
    """An Istio-oracle run's summary.json in words, with its disagreements."""
    text = (
        f"Seed {summary['seed']}: {summary['cases']:,} generated pods in {summary['worlds']} "
        f"meshes (installed revisions, root namespace) with {summary['peer_authentications']:,} "
        f"generated PeerAuthentications; Istio injects {summary['injected_by_istio']:,} of the "
        f"pods and gives {summary['strict_by_istio']:,} of them STRICT mTLS on every port. "
        f"{len(summary['disagreements'])} disagreement(s) with NSA-2.6's verdicts.\n"
    )
    text += disagreement_table(summary["disagreements"])
    return text


def mutation_text(report: dict[str, Any]) -> str:
    """A mutation run's mutation.json in words: what was killed at each level, and how
    many survivors scenarios/mutants.yaml explains."""
    mutants = pd.DataFrame(report["mutants"])
    counts = report["counts"]
    text = (
        f"{len(mutants):,} mutants of the policy library, each run on the fixture tests "
        f"with OPA {report['opa_version']}: {counts.get('killed', 0):,} killed, "
        f"{counts.get('survived', 0):,} survived, {counts.get('stillborn', 0):,} stillborn "
        f"(OPA refused to compile them), {counts.get('unexercised', 0):,} in rules no "
        "control's deny reaches.\n"
    )
    rows = []
    for (level, operator), group in mutants.groupby(["level", "operator"], sort=False):
        live = group[group["status"].isin(["killed", "survived"])]
        survived = live[live["status"] == "survived"]
        explained = int(survived.get("known_reason", pd.Series(dtype=str)).notna().sum())
        rows.append(
            {
                "level": level,
                "mutation": operator,
                "mutants": len(live),
                "killed": int((live["status"] == "killed").sum()),
                "survived, explained": explained,
                "survived, not explained": len(survived) - explained,
            }
        )
    frame = pd.DataFrame(rows).sort_values(["level", "mutation"], key=_level_order)
    return text + "\n" + markdown_frame(frame)


def _level_order(column: pd.Series) -> pd.Series:
    return column.map({"rule": 0, "clause": 1}).fillna(column) if column.name == "level" else column


def markdown_frame(frame: pd.DataFrame, digits: int = 2) -> str:
    """A DataFrame as a Markdown table; floats rounded, pipes escaped."""

    def cell(value: object) -> str:
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    headers = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- benchmark versions


def benchmark_versions_text(coverage: Coverage, benchmarks: dict[str, Benchmark]) -> str:
    """Coverage of CIS section 5 in every version, then the thesis's version beside the
    newest row by row: what was added, removed, renumbered or relabelled in between."""
    names = list(benchmarks)
    old, new = benchmarks[DEFAULT_BENCHMARK], benchmarks[names[-1]]
    totals = []
    for benchmark in benchmarks.values():
        rows = benchmark_rows(coverage, benchmark)
        enforced = sum(r.status == ENFORCED for r in rows)
        uncovered = sum(r.status == NOT_COVERED for r in rows)
        totals.append(
            {
                "version": benchmark.title.removeprefix("CIS Kubernetes Benchmark "),
                "Kubernetes": ", ".join(benchmark.kubernetes) or "—",
                "controls": len(rows),
                "automated": sum(r.assessment == "automated" for r in rows),
                "enforced (ours)": f"{enforced}/{len(rows)}",
                "not in our catalog": uncovered,
            }
        )
    text = markdown_frame(pd.DataFrame(totals)) + "\n"
    old_rows = {r.control: r for r in benchmark_rows(coverage, old) if r.control}
    new_rows = benchmark_rows(coverage, new)
    side = []
    for row in new_rows:
        before = old_rows.pop(row.control, None) if row.control else None
        side.append(_side_row(old.name, new.name, before, row))
    side += [_side_row(old.name, new.name, before, None) for before in old_rows.values()]
    changed = [r for r in side if r["changed"]]
    text += (
        f"\n{len(side) - len(changed)} controls are the same in {old.name} and {new.name} "
        "(id, title and assessment); the others:\n\n" + markdown_frame(pd.DataFrame(changed))
    )
    return text


def _side_row(
    old: str, new: str, before: BenchmarkRow | None, after: BenchmarkRow | None
) -> dict[str, Any]:
    either = after or before
    assert either is not None
    changes = []
    if before is None or after is None:
        changes.append("added" if before is None else "removed")
    else:
        changes += ["renumbered"] if before.id != after.id else []
        changes += ["title"] if before.title != after.title else []
        changes += ["assessment"] if before.assessment != after.assessment else []
    return {
        old: before.id if before else "—",
        new: after.id if after else "—",
        "title": either.title,
        "assessment": " → ".join(
            dict.fromkeys(r.assessment for r in (before, after) if r is not None)
        ),
        "changed": ", ".join(changes),
        "ours": either.symbol if either.control else "not in our catalog",
    }
