"""Tables, figures and the summary, regenerated from a run folder.

This is the one analysis library: `harness run`, `harness report`, the notebooks and the
paper all call it, so a number is never computed two ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from harness.catalog import FRAMEWORKS, Catalog, load_catalog
from harness.coverage import THESIS_TOTALS, Coverage, compute_coverage
from harness.results import Run, load_run

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
    "p50 ms",
    "p99 ms",
]


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
    ]


def markdown_table(coverage: Coverage, latency: pd.DataFrame, framework: str) -> str:
    rows = [*coverage_rows(coverage, latency, framework), _total_row(coverage, framework)]
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


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
    total = rf" & \textbf{{Total}} & & \textbf{{{thesis[0]}/{thesis[1]}}} & & \textbf{{{t['enforced']}/{t['total']}}} & & \\"
    return "\n".join(
        [
            r"\begin{longtable}{llllllrr}",
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


def plot_per_policy(run: Run, catalog: Catalog, path_stem: Path) -> list[Path]:
    """Thesis figure 6.30: one box per admission control, each policy on its own."""
    frame = run.policy_records
    present = set(frame["control"].astype(str))
    order = [c.id for c in catalog if c.id in present and c.enforcement == "admission"]
    if not order:
        return []
    data = [frame.loc[frame["control"] == cid, "latency_ns"].to_numpy() / 1e6 for cid in order]
    fig, ax = plt.subplots(figsize=(8, max(4, 0.28 * len(order) + 1.5)))
    _boxplot(ax, data, order)
    ax.set_xlabel("decision latency (ms)")
    ax.set_title(
        f"Each policy on its own ({_engine_label(run)}, n={run.meta.get('iterations')} per fixture)"
    )
    return _save(fig, path_stem)


def plot_combined(run: Run, path_stem: Path) -> list[Path]:
    """Thesis figure 6.29: all resource-deployment policies evaluated as one query."""
    frame = run.combined_records
    frame = frame[frame["control"] == "ALL"]
    if not len(frame):
        return []
    fig, ax = plt.subplots(figsize=(8, 2.4))
    _boxplot(ax, [frame["latency_ns"].to_numpy() / 1e6], ["all RD policies"])
    ax.set_xlabel("decision latency (ms)")
    fixtures = frame["fixture"].nunique()
    ax.set_title(
        f"All policies as one query ({_engine_label(run)}, {fixtures} fixtures, n={len(frame)})"
    )
    return _save(fig, path_stem)


def plot_node(run: Run, path_stem: Path) -> list[Path]:
    """Thesis figure 6.28: all node-configuration policies together. Two boxes: the warm
    in-process evaluation per snapshot, and whole `node-check` processes (interpreter
    start, collection, compilation, evaluation) as kubelet would wait for them."""
    warm = run.combined_records
    warm = warm[warm["control"] == "ALL-NODE"]["latency_ns"].to_numpy() / 1e6
    cold = [r["latency_ns"] / 1e6 for r in run.extras.get("node_check_process", [])]
    data, labels = [], []
    if len(warm):
        data.append(warm)
        labels.append("NC policies, warm")
    if cold:
        data.append(cold)
        labels.append("node-check process")
    if not data:
        return []
    fig, ax = plt.subplots(figsize=(8, 1.2 + 1.0 * len(data)))
    _boxplot(ax, data, labels)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title(f"Node configuration checks ({_engine_label(run)})")
    return _save(fig, path_stem)


def _boxplot(ax, data, labels) -> None:
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


def _save(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    out = []
    for ext in ("png", "pdf"):
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
    baseline = run.extras.get("baseline")
    if not baseline:
        return pd.DataFrame()
    base = pd.DataFrame(baseline)
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


# ---------------------------------------------------------------- engines side by side


def engine_comparison(runs: list[Run]) -> pd.DataFrame:
    """Per control: p50/p99 of each run's target, plus OPA's eval-only time where a run
    holds `opa bench` results. Columns are named <target>_p50_ms, <target>_p99_ms."""
    table: pd.DataFrame | None = None
    for run in runs:
        lat = latency_by_control(run)[["control", "p50_ms", "p99_ms"]]
        label = str(run.meta.get("target"))
        lat = lat.rename(columns={"p50_ms": f"{label}_p50_ms", "p99_ms": f"{label}_p99_ms"})
        table = lat if table is None else table.merge(lat, on="control", how="outer")
        bench = run.extras.get("opa_bench")
        if bench:
            frame = pd.DataFrame([b for b in bench if "eval_p50_ns" in b])
            if len(frame):
                grouped = frame.groupby("control").agg(
                    opa_eval_p50_ms=("eval_p50_ns", lambda s: s.median() / 1e6),
                    opa_eval_p99_ms=("eval_p99_ns", lambda s: s.max() / 1e6),
                )
                table = table.merge(grouped.reset_index(), on="control", how="outer")
    if table is None:
        return pd.DataFrame()
    order = {c.id: i for i, c in enumerate(load_catalog())}
    for i, label in enumerate(("ALL", "ALL-NODE", NODE_PROCESS)):
        order[label] = len(order) + i
    return table.sort_values("control", key=lambda s: s.map(order)).reset_index(drop=True)


def comparison_markdown(table: pd.DataFrame) -> str:
    headers = list(table.columns)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for _, row in table.iterrows():
        cells = [str(row[h]) if h == "control" else _fmt_ms(row[h]) for h in headers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
            for k in ("partial", "failing", "pending", "not_enforceable", "out_of_scope", "not_run")
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
    wrong = [c.id for c in coverage.controls if c.status == "failing"]
    if wrong:
        lines.append(
            "failing controls (a fixture decided against its expectation): " + ", ".join(wrong)
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


def write_report(run_dir: Path, catalog: Catalog | None = None) -> Report:
    """Regenerate coverage.json, latency.csv, tables/ and figures/ from the run's records."""
    catalog = catalog or load_catalog()
    run = load_run(run_dir)
    coverage = compute_coverage(catalog, run.records)
    latency = latency_by_control(run)
    written: list[Path] = []
    cov_path = run.directory / COVERAGE_FILE
    cov_path.write_text(json.dumps(coverage.to_json(), indent=1, ensure_ascii=False) + "\n")
    lat_path = run.directory / LATENCY_FILE
    latency.to_csv(lat_path, index=False, float_format="%.4f")
    written += [cov_path, lat_path]
    psa = run.extras.get("psa_agreement")
    if psa:
        path = run.directory / "psa_agreement.csv"
        pd.DataFrame(psa).to_csv(path, index=False)
        written.append(path)
    overhead = webhook_overhead(run)
    if len(overhead):
        path = run.directory / "webhook_overhead.csv"
        overhead.to_csv(path, index=False, float_format="%.4f")
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
