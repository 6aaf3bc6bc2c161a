"""Mutation testing of the policy library: does each control's evidence notice when its
policy is broken?

Every policy module (tests and the generated RBAC defaults excepted) is parsed by OPA
(`opa parse`, with locations) and mutated one change at a time, at two levels:

- rule: a rule body (or else branch) made false;
- clause: one condition dropped, one condition negated (a comparison turned around,
  `not` added or removed), one constant changed (a literal in a comparison, an element
  of a set or array constant).

Each mutant runs the generated fixture tests (`policy_test.rego`: every allow fixture
admitted, every deny fixture denied with its reason) on the real `opa test`, which
compiles and answers all controls in about 0.3 s. A mutant belongs to the controls whose
`deny` reaches the mutated rule through the rules it refers to (statically, from OPA's
parse); it is killed for a control when one of that control's tests fails, and killed
outright when any control's test fails. A mutant OPA refuses to
compile (a dropped condition that bound a variable) is stillborn and not counted.

A survivor is a missing fixture or dead policy code. Survivors that cannot be killed
are listed, with the reason, in scenarios/mutants.yaml.
"""

from __future__ import annotations

import base64
import fnmatch
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import paths
from harness.checks.regotests import opa_test_answer, test_data, test_packages
from harness.errors import HarnessError
from harness.infra import tools
from harness.model.catalog import Control, load_catalog
from harness.model.fixtures import FixtureSet
from harness.model.policies import load_modules
from harness.model.yamlfile import read_yaml

RULE, CLAUSE = "rule", "clause"
LEVELS = (RULE, CLAUSE)
MUTATION_FILE = "mutation.json"
SKIPPED_FILES = ("rbac_defaults.rego",)  # generated data, checked against kube-apiserver
COMPARISONS = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
UNMUTATED_CALLS = {"assign", "eq"}  # := and =: binding a variable, not a condition
KNOWN_SURVIVORS = "mutants.yaml"
Rule = tuple[str, str]  # (package, rule name)


@dataclass(frozen=True)
class Mutant:
    file: str  # relative to policies/
    row: int
    level: str  # rule | clause
    operator: str
    original: str
    mutated: str
    start: int  # byte span in the file that `mutated` replaces
    end: int
    rule: Rule  # the rule the change sits in

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Stable across edits elsewhere in the file (rows move, text does not)."""
        return (self.file, self.operator, self.original, self.mutated)

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.mutated.encode() + source[self.end :]


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | stillborn | unexercised (no control reaches it)
    controls: list[str] = field(default_factory=list)  # whose deny reaches its rule
    killed_for: list[str] = field(default_factory=list)
    error: str = ""
    known_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self.mutant).items() if k not in ("start", "end", "rule")}
        out.update(  # rule: the name a mutants.yaml entry's `rule` matches
            rule=self.mutant.rule[1],
            status=self.status,
            controls=self.controls,
            killed_for=self.killed_for,
        )
        if self.error:
            out["error"] = self.error
        if self.known_reason:
            out["known_reason"] = self.known_reason
        return out


# ---------------------------------------------------------------- generating mutants


def parse(opa: Path, path: Path) -> dict[str, Any]:
    """OPA's AST of one module, with locations."""
    result = subprocess.run(
        [str(opa), "parse", "--format", "json", "--json-include", "locations,-comments", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise HarnessError(f"{path}: opa parse failed: {first}")
    module: dict[str, Any] = json.loads(result.stdout)
    return module


def mutants_of(module: dict[str, Any], path: Path, rel: str) -> list[Mutant]:
    """Every mutant of one parsed module, in file order."""
    source = path.read_bytes()
    offsets = _line_offsets(source)
    package = package_of(module)
    found: list[Mutant] = []
    for rule in module.get("rules", []):
        owner = (package, rule_name(rule))
        for branch in _branches(rule):
            found.extend(_mutate_branch(branch, source, offsets, rel, owner))
    return sorted(set(found), key=lambda m: (m.start, m.level, m.operator, m.mutated))


def package_of(module: dict[str, Any]) -> str:
    return ".".join(str(t["value"]) for t in module["package"]["path"][1:])


def rule_name(rule: dict[str, Any]) -> str:
    head = rule.get("head", {})
    return head.get("name") or str(head["ref"][0]["value"])


def references(modules: list[dict[str, Any]]) -> dict[Rule, set[Rule]]:
    """Which rules each rule refers to (static: data.x.y, imported names, names of the
    same package). Dynamic refs (data.controls[name]) are not followed."""
    known = {(package_of(m), rule_name(r)) for m in modules for r in m.get("rules", [])}
    graph: dict[Rule, set[Rule]] = {}
    for module in modules:
        package = package_of(module)
        imports = {}
        for imp in module.get("imports", []):
            path = [str(t["value"]) for t in imp["path"]["value"][1:]]
            imports[imp.get("alias") or path[-1]] = path
        for rule in module.get("rules", []):
            edges = graph.setdefault((package, rule_name(rule)), set())
            for head, *rest in _refs(rule):
                if (package, head) in known:
                    edges.add((package, head))
                    continue
                path = rest if head == "data" else imports.get(head, []) + rest
                for i in range(len(path)):
                    if (".".join(path[:i]), path[i]) in known:
                        edges.add((".".join(path[:i]), path[i]))
                        break
    return graph


def _refs(node: Any) -> Iterator[list[str]]:
    """Every reference in a rule, as its leading var and the string keys after it, and
    every bare variable (a local one that shares a rule's name adds an edge too many,
    which only makes a mutant belong to one more control)."""
    if isinstance(node, dict):
        parts = node.get("value")
        if node.get("type") == "ref" and parts and parts[0].get("type") == "var":
            keys = [str(parts[0]["value"])]
            for part in parts[1:]:
                if part.get("type") != "string":
                    break
                keys.append(str(part["value"]))
            yield keys
        elif node.get("type") == "var":  # a rule of the same package named bare
            yield [str(parts)]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def reachable(graph: dict[Rule, set[Rule]], start: Rule) -> set[Rule]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _branches(rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    branch: dict[str, Any] | None = rule
    while branch:
        yield branch
        branch = branch.get("else")


def _mutate_branch(
    rule: dict[str, Any], source: bytes, offsets: list[int], rel: str, owner: Rule
) -> Iterator[Mutant]:
    body = rule.get("body") or []

    def make(level: str, operator: str, loc: dict[str, Any], mutated: str) -> Mutant:
        start, text = _span(loc, offsets)
        end = start + len(text)
        return Mutant(rel, loc["row"], level, operator, text, mutated, start, end, owner)

    if body and body[0].get("generated"):
        yield from _constant_mutants(rule.get("head", {}).get("value"), make)
        return
    if not body:
        return
    first = body[0]
    start, text = _span(first["location"], offsets)
    braced = source[:start].rstrip().endswith(b"{")
    yield make(RULE, "rule body made false", first["location"],
               f"false; {text}" if braced else f"{{ false; {text} }}")  # fmt: skip
    for expr in body:
        loc = expr["location"]
        _, text = _span(loc, offsets)
        terms = expr.get("terms")
        if len(body) > 1 and not _is_declaration(terms):
            yield make(CLAUSE, "condition dropped", loc, "true")
        call = _call_name(terms)
        if expr.get("negated"):
            yield make(CLAUSE, "condition negated", loc, re.sub(r"^not\s+", "", text))
        elif call in ("equal", "neq", "lt", "gt", "lte", "gte"):
            op = terms[0]["location"]
            _, token = _span(op, offsets)
            yield make(CLAUSE, "comparison turned around", op, COMPARISONS[token])
        elif (isinstance(terms, list) and call not in UNMUTATED_CALLS) or _is_plain_term(terms):
            yield make(CLAUSE, "condition negated", loc, f"not {text}")
        if isinstance(terms, list) and call in ("equal", "neq"):
            for term in terms[1:]:
                yield from _constant_mutants(term, make)


def _constant_mutants(term: dict[str, Any] | None, make: Callable[..., Mutant]) -> Iterator[Mutant]:
    """A literal changed, or one element of a literal set or array left out."""
    if not term or "location" not in term:
        return
    kind, loc = term.get("type"), term["location"]
    value: Any = term.get("value")
    if kind == "string":
        yield make(CLAUSE, "constant changed", loc, json.dumps(f"{value}-mutant"))
    elif kind == "number":
        yield make(CLAUSE, "constant changed", loc, json.dumps(value + 1))
    elif kind == "boolean":
        yield make(CLAUSE, "constant changed", loc, json.dumps(not value))
    elif kind in ("set", "array") and len(value) > 1:
        scalars = [e.get("value") for e in value if e.get("type") in ("string", "number")]
        if len(scalars) != len(value):
            return
        opening, closing = ("{", "}") if kind == "set" else ("[", "]")
        for i in range(len(scalars)):
            kept = ", ".join(json.dumps(v) for j, v in enumerate(scalars) if j != i)
            yield make(CLAUSE, "element left out", loc, f"{opening}{kept}{closing}")


def _call_name(terms: Any) -> str | None:
    if isinstance(terms, list) and terms and terms[0].get("type") == "ref":
        ref = terms[0]["value"]
        if len(ref) == 1 and ref[0].get("type") == "var":
            name: str = ref[0]["value"]
            return name
    return None


def _is_declaration(terms: Any) -> bool:
    """`some x in xs` declares a variable; without it OPA iterates the same way over
    whatever the variable's later references allow, so dropping it tests nothing."""
    return isinstance(terms, dict) and "symbols" in terms


def _is_plain_term(terms: Any) -> bool:
    """A lone reference or call used as a condition (`x.privileged`, `f(x)`)."""
    return isinstance(terms, dict) and terms.get("type") in ("ref", "call", "var")


def _line_offsets(source: bytes) -> list[int]:
    offsets = [0]
    for i, byte in enumerate(source):
        if byte == 0x0A:
            offsets.append(i + 1)
    return offsets


def _span(loc: dict[str, Any], offsets: list[int]) -> tuple[int, str]:
    text = base64.b64decode(loc.get("text", "")).decode()
    return offsets[loc["row"] - 1] + loc["col"] - 1, text


def all_mutants(opa: Path, root: Path) -> tuple[list[Mutant], dict[Rule, set[Rule]]]:
    """Every mutant of the library, and the rule reference graph of all its modules."""
    found, modules = [], []
    for path in (m.path for m in load_modules(root)):  # tests left out
        module = parse(opa, path)
        modules.append(module)
        if path.name not in SKIPPED_FILES:
            found.extend(mutants_of(module, path, str(path.relative_to(root))))
    return found, references(modules)


# ---------------------------------------------------------------- running them


def control_regex(controls: list[Control]) -> str:
    packages = [p for c in controls for p in test_packages(c)]
    return "^(" + "|".join(re.escape(p) for p in packages) + r")\."


def _opa_test(opa: Path, root: Path, data: Path, run: str) -> Any:
    return opa_test_answer(opa, root, data, ["--run", run, "--format", "json"])


@dataclass
class MutationReport:
    outcomes: list[Outcome]
    controls: list[Control]
    opa_version: str
    inputs: dict[str, str] = field(default_factory=dict)  # fingerprint of what it ran
    commit: dict[str, Any] = field(default_factory=dict)
    complete: bool = True  # False: interrupted, the outcomes so far

    def per_control(self) -> dict[str, dict[str, Any]]:
        return control_scores([o.to_json() for o in self.outcomes], [c.id for c in self.controls])

    def survivors(self, explained: bool | None = None) -> list[Outcome]:
        found = [o for o in self.outcomes if o.status == "survived"]
        if explained is None:
            return found
        return [o for o in found if bool(o.known_reason) == explained]

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {
            "opa_version": self.opa_version,
            "inputs": self.inputs,
            "commit": self.commit,
            "complete": self.complete,
            "counts": counts,
            "controls": self.per_control(),
            "mutants": [o.to_json() for o in self.outcomes],
        }


def control_scores(mutants: list[dict[str, Any]], control_ids: list[str]) -> dict[str, Any]:
    """Per control and level, over the mutants that belong to it (stillborn ones left
    out): how many the fixture tests kill, how many scenarios/mutants.yaml explains, and
    the score, killed over those not explained: would a broken rule on this control's
    path go unnoticed by the evidence? killed_by_own_fixtures says how many of the kills
    the control's own fixtures make (shared code is often pinned by another control's)."""
    table: dict[str, Any] = {}
    for cid in control_ids:
        row = {}
        for level in LEVELS:
            mine = [
                m for m in mutants
                if m["level"] == level and cid in m["controls"]
                and m["status"] in ("killed", "survived")
            ]  # fmt: skip
            killed = sum(m["status"] == "killed" for m in mine)
            explained = sum(m["status"] == "survived" and bool(m.get("known_reason")) for m in mine)
            counted = len(mine) - explained
            row[level] = {
                "mutants": len(mine),
                "killed": killed,
                "explained": explained,
                "killed_by_own_fixtures": sum(cid in m["killed_for"] for m in mine),
                "score": round(killed / counted, 4) if counted else None,
            }
        table[cid] = row
    return table


Known = dict[tuple[str, str, str, str], list[tuple[frozenset[str] | None, str]]]


def known_survivors(path: Path | None = None) -> Known:
    """scenarios/mutants.yaml: survivors that no fixture can kill, each with its reason,
    by mutant key; an entry that names a `rule` (or a list of them) explains only mutants
    inside those rules (a comparison such as `==` appears in many rules of one file)."""
    path = path or paths.scenarios_dir() / KNOWN_SURVIVORS
    if not path.is_file():
        return {}
    entries = read_yaml(path, "mutants file") or {}
    known: Known = {}
    specific: set[tuple[tuple[str, str, str, str], str]] = set()
    ids = {f"controls/{c.policy}/policy.rego": c.id for c in load_catalog().with_policy}
    for i, entry in enumerate(entries.get("survivors") or []):
        # `files` lists every control package that repeats the same mutation (each
        # control's write guard), and `mutated` may list every mutation of one text (each
        # element left out of a set), so one reason is written once. Each control writes
        # its own id in its deny rules, so such an entry says {control} where it stands.
        try:
            patterns = entry["files"] if "files" in entry else [entry["file"]]
            mutated = entry["mutated"]
            for pattern in patterns:
                for file, text in itertools.product(_expand([pattern], ids), _listed(mutated)):
                    control = ids.get(file, "{control}")
                    original = entry["original"].replace("{control}", control)
                    key = (file, entry["operator"], original, text.replace("{control}", control))
                    known.setdefault(key, []).append((_rules(entry.get("rule")), entry["reason"]))
                    if "*" not in pattern:
                        specific.add((key, entry["reason"]))
        except (KeyError, TypeError):
            raise HarnessError(
                f"{path}: survivors[{i}] needs file (or files), operator, original, mutated"
                " and reason"
            ) from None
    # An entry naming the file explains its mutant before one for every control.
    for key, reasons in known.items():
        reasons.sort(key=lambda r: (key, r[1]) not in specific)
    return known


def _expand(files: list[str], control_files: dict[str, str]) -> list[str]:
    """`controls/*/policy.rego` stands for every control's policy file (a mutation every
    control repeats, such as its exemption guard), so no list of controls is kept by hand."""
    out: list[str] = []
    for pattern in files:
        if "*" in pattern:
            out += sorted(f for f in control_files if fnmatch.fnmatchcase(f, pattern))
        else:
            out.append(pattern)
    return out


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _rules(rule: str | list[str] | None) -> frozenset[str] | None:
    if rule is None:
        return None
    return frozenset(_listed(rule))


def reason_for(known: Known, mutant: Mutant) -> str:
    """The reason mutants.yaml gives for a surviving mutant, or "" when none does."""
    for rules, reason in known.get(mutant.key, []):
        if rules is None or mutant.rule[1] in rules:
            return reason
    return ""


def run_mutation(
    controls: list[Control],
    fixture_set: FixtureSet,
    config: dict[str, Any],
    level: str | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    root: Path | None = None,
) -> MutationReport:
    """Every mutant of the library that the controls' fixture tests reach, run on OPA."""
    opa = tools.require("opa")
    root = root or paths.policies_dir()
    known = known_survivors()
    with tempfile.TemporaryDirectory(prefix="pac-harness-mutate-") as tmp:
        data = Path(tmp) / "data.json"
        data.write_text(json.dumps(test_data(fixture_set, config)))
        baseline = _opa_test(opa, root, data, control_regex(controls))
        failing = _failures(baseline, controls)
        if failing is None or failing:
            raise HarnessError(
                f"{root}: the fixture tests must pass before mutating: {failing or baseline}"
            )
        found, graph = all_mutants(opa, root)
        mutants = [m for m in found if level in (None, m.level)]
        reach = {c.id: _reach(graph, c) for c in controls}
        owners = {m: [cid for cid, rules in reach.items() if m.rule in rules] for m in mutants}
        reached = [m for m in mutants if owners[m]]
        outcomes = [Outcome(m, "unexercised") for m in mutants if not owners[m]]
        copies = [Path(tmp) / f"policies-{i}" for i in range(max(1, workers))]
        for copy in copies:
            shutil.copytree(root, copy)
        finished: list[Outcome] = []
        complete = _run_all(
            reached,
            copies,
            lambda copy, m: _run_one(opa, copy, data, m, owners[m], controls),
            finished,
            progress,
        )
        outcomes.extend(finished)
    for outcome in outcomes:
        if outcome.status == "survived":
            outcome.known_reason = reason_for(known, outcome.mutant)
    outcomes.sort(
        key=lambda o: (o.mutant.file, o.mutant.start, o.mutant.operator, o.mutant.mutated)
    )
    from harness.model import inputs
    from harness.reporting.results import commit

    return MutationReport(
        outcomes, controls, tools.get_tool("opa").version, inputs.digest(config), commit(),
        complete,
    )  # fmt: skip


def _run_all(
    reached: list[Mutant],
    copies: list[Path],
    run_one: Callable[[Path, Mutant], Outcome],
    finished: list[Outcome],
    progress: Callable[[int, int], None] | None,
) -> bool:
    """Each copy of the library runs its share of the mutants; finished grows as they
    end. On Ctrl-C (or an interrupt raised by progress) the workers stop after the
    mutant in hand, whose answer is dropped (its opa test got the signal too), and
    False says the outcomes are partial."""
    lock, stop = threading.Lock(), threading.Event()

    def work(index: int) -> None:
        for mutant in reached[index :: len(copies)]:
            if stop.is_set():
                return
            outcome = run_one(copies[index], mutant)
            if stop.is_set():
                return
            with lock:
                finished.append(outcome)
                if progress:
                    progress(len(finished), len(reached))

    pool = ThreadPoolExecutor(max_workers=len(copies))
    futures = [pool.submit(work, i) for i in range(len(copies))]
    try:
        for future in futures:
            future.result()
    except KeyboardInterrupt:
        stop.set()
        pool.shutdown(wait=True)
        return False
    pool.shutdown()
    return True


def write(report: MutationReport, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MUTATION_FILE
    path.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n")
    return path


def _reach(graph: dict[Rule, set[Rule]], control: Control) -> set[Rule]:
    """The rules the control's deny rules reach, at every point it has a policy."""
    found: set[Rule] = set()
    for entrypoint in control.entrypoints:
        root, package, _ = entrypoint.split("/")
        found |= reachable(graph, (f"{root}.{package}", "deny"))
    return found


def _run_one(
    opa: Path, copy: Path, data: Path, mutant: Mutant, owners: list[str], controls: list[Control]
) -> Outcome:
    path = copy / mutant.file
    original = path.read_bytes()
    path.write_bytes(mutant.apply(original))
    try:
        mine = [c for c in controls if c.id in owners]
        answer = _opa_test(opa, copy, data, control_regex(mine))
    finally:
        path.write_bytes(original)
    failing = _failures(answer, mine)
    if failing is None:
        return Outcome(mutant, "stillborn", owners, error=str(answer))
    killed = sorted(
        {
            c.id
            for c in mine
            if any(f.startswith(p + ".") for p in test_packages(c) for f in failing)
        }
    )
    return Outcome(mutant, "killed" if killed else "survived", owners, killed)


def _failures(answer: Any, controls: list[Control]) -> list[str] | None:
    """Failing test names, or None when OPA did not run the tests (a compile error)."""
    if not isinstance(answer, list):
        return None
    if any(r.get("error") and "rego_" in json.dumps(r.get("error")) for r in answer):
        return None
    return [f"{r['package']}.{r['name']}" for r in answer if r.get("fail") or r.get("error")]
