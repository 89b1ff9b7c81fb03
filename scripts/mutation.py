"""Mutation testing of the money paths: apply each bug of a committed catalogue alone, run the area's unit
tests, and count which tests catch it.

    .venv/bin/python scripts/mutation.py                     # every mutant, results to benchmarks/results
    .venv/bin/python scripts/mutation.py --area positions    # one area
    .venv/bin/python scripts/mutation.py --ignore tests/unit/trading/test_oracle_state.py ...
                                                             # what the suite catches without some files
    .venv/bin/python scripts/mutation.py --check             # only check that every mutant still applies

The catalogue (scripts/mutation_catalogue.toml) holds realistic one-line bugs: an off-by-one, a dropped
term, a wrong sign, a missing side. Each mutant runs in a scratch copy of the working tree (the files git
tracks or would track), so the checkout is never modified; pytest runs there with a fixed hypothesis seed
(``--hypothesis-seed=0``, no example database), so a run is repeatable, and without hypothesis' shrink
phase (scripts/mutation_pytest_plugin.py: shrinking a failing example does not change the verdict).
A mutant is caught when at least one test fails or errors; a mutant whose run exceeds ``--timeout-s``
counts as caught (a hang is a failure a user would see) and is marked so. Equivalent mutants (the
catalogue says why) are reported apart and left out of the score.

Results: benchmarks/results/mutation.json and mutation.md (per area caught/total and score, every mutant
with the number of tests that caught it, every survivor with its reason).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "scripts" / "mutation_catalogue.toml"
RESULTS = ROOT / "benchmarks" / "results"
#: the issue's targets: trading core areas, and every configured area together
TARGET_CORE = 0.95
TARGET_OVERALL = 0.90
_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)", re.M)


@dataclass(frozen=True)
class Mutant:
    id: str
    area: str
    file: str
    find: str
    replace: str
    bug: str
    nth: int | None = None
    equivalent: str | None = None


def load(path: Path = CATALOGUE) -> tuple[dict[str, dict], list[Mutant]]:
    data = tomllib.loads(path.read_text())
    return data["areas"], [Mutant(**m) for m in data["mutant"]]


def locate(m: Mutant, text: str) -> int:
    """Offset of the piece the mutant replaces; ValueError when it is missing or ambiguous."""
    hits = [i.start() for i in re.finditer(re.escape(m.find), text)]
    if not hits:
        raise ValueError(f"{m.id}: {m.find!r} is not in {m.file}")
    if m.nth is None:
        if len(hits) != 1:
            raise ValueError(f"{m.id}: {m.find!r} occurs {len(hits)} times in {m.file}; say which with nth")
        return hits[0]
    if not 1 <= m.nth <= len(hits):
        raise ValueError(f"{m.id}: nth={m.nth} but {m.find!r} occurs {len(hits)} times in {m.file}")
    return hits[m.nth - 1]


def mutated(m: Mutant, text: str) -> tuple[str, int]:
    """(the file's text with the mutant applied, 1-based line number)."""
    at = locate(m, text)
    return text[:at] + m.replace + text[at + len(m.find) :], text.count("\n", 0, at) + 1


def check(areas: dict[str, dict], mutants: list[Mutant], root: Path = ROOT) -> list[str]:
    """Every problem that stops the catalogue from applying (empty when it is sound)."""
    problems, seen = [], set()
    for m in mutants:
        if m.id in seen:
            problems.append(f"{m.id}: duplicate id")
        seen.add(m.id)
        if m.area not in areas:
            problems.append(f"{m.id}: unknown area {m.area!r}")
        if m.find == m.replace:
            problems.append(f"{m.id}: replace equals find")
        path = root / m.file
        if not path.is_file():
            problems.append(f"{m.id}: no file {m.file}")
            continue
        try:
            text, _ = mutated(m, path.read_text())
            compile(text, m.file, "exec")
        except (ValueError, SyntaxError) as e:
            problems.append(str(e))
    for name, a in areas.items():
        problems += [f"area {name}: no tests at {t}" for t in a["tests"] if not (root / t).exists()]
    return problems


def scratch_copy(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked-but-not-ignored files), without .git."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
        )
        .stdout.decode()
        .split("\0")
    )
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def pytest_cmd(tests: list[str], ignore: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        *(f"--ignore={p}" for p in ignore),
        "-q",
        "--tb=no",
        "-rfE",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",
        "mutation_pytest_plugin",
        "--hypothesis-seed=0",
        "-o",
        "addopts=",
        "-W",
        "ignore",
    ]


def run_tests(work: Path, tests: list[str], ignore: list[str], timeout_s: float) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{work}{os.pathsep}{work / 'scripts'}", "PYTHONDONTWRITEBYTECODE": "1"}
    shutil.rmtree(work / ".hypothesis", ignore_errors=True)  # no example database carried between mutants
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            pytest_cmd(tests, ignore), cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return {"rc": "timeout", "failed": [], "wall_s": round(time.perf_counter() - t0, 1), "tail": ""}
    failed = sorted({m.group(2) for m in _FAILED.finditer(p.stdout)})
    tail = "\n".join(p.stdout.strip().splitlines()[-3:])
    return {"rc": p.returncode, "failed": failed, "wall_s": round(time.perf_counter() - t0, 1), "tail": tail}


class Worker:
    """One scratch copy of the tree; mutants are applied to it one at a time and undone after."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nautilus-mutation-"))
        scratch_copy(self.dir)
        probe = subprocess.run(
            [sys.executable, "-c", "import backend, engines; print(backend.__file__)"],
            cwd=self.dir,
            env={**os.environ, "PYTHONPATH": str(self.dir)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not probe.startswith(str(self.dir)):  # the mutants must be what the tests import
            raise SystemExit(f"the scratch copy's packages are not the ones imported ({probe})")

    def run(self, m: Mutant, tests: list[str], ignore: list[str], timeout_s: float) -> dict:
        path = self.dir / m.file
        original = path.read_text()
        text, line = mutated(m, original)
        path.write_text(text)
        try:
            res = run_tests(self.dir, tests, ignore, timeout_s)
        finally:
            path.write_text(original)
        caught = res["rc"] == "timeout" or bool(res["failed"]) or res["rc"] not in (0, 5)
        return {
            "id": m.id,
            "area": m.area,
            "file": m.file,
            "line": line,
            "bug": m.bug,
            "find": m.find,
            "replace": m.replace,
            "equivalent": m.equivalent,
            "caught": caught,
            "timeout": res["rc"] == "timeout",
            "caught_by": len(res["failed"]),
            "tests": res["failed"][:8],
            "wall_s": res["wall_s"],
            "exit": res["rc"],
        }

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def score(rows: list[dict]) -> dict:
    counted = [r for r in rows if not r["equivalent"]]
    caught = sum(r["caught"] for r in counted)
    return {
        "total": len(rows),
        "equivalent": len(rows) - len(counted),
        "counted": len(counted),
        "caught": caught,
        "missed": len(counted) - caught,
        "score": caught / len(counted) if counted else None,
        "caught_by_one_test": sum(1 for r in counted if r["caught"] and r["caught_by"] == 1),
    }


def tree_state() -> dict:
    """The commit the run's scratch copy was taken from, and whether the tree differed from it."""
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(
        subprocess.run(
            [*git, "status", "--porcelain", "--", "backend", "engines", "tests", "scripts"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    return {"commit": commit or None, "dirty": dirty}


def summarise(areas: dict[str, dict], rows: list[dict], runs: list[dict], ignore: list[str]) -> dict:
    per_area = {
        a: {
            "title": areas[a]["title"],
            "core": bool(areas[a].get("core")),
            **score([r for r in rows if r["area"] == a]),
        }
        for a in areas
        if any(r["area"] == a for r in rows)
    }
    core_rows = [r for r in rows if areas[r["area"]].get("core")]
    return {
        "areas": per_area,
        "core": score(core_rows),
        "overall": score(rows),
        "targets": {"core": TARGET_CORE, "overall": TARGET_OVERALL},
        "runs": runs,
        "ignored": ignore,
        "mutants": rows,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(rep: dict) -> str:
    core, overall = rep["core"], rep["overall"]
    lines = [
        "# Mutation testing of the money paths",
        "",
        "Catalogue: `scripts/mutation_catalogue.toml`; each mutant applied alone in a scratch copy of the tree, the "
        "area's unit tests run with `--hypothesis-seed=0` (no shrinking); a mutant is caught when a test fails.",
        "",
        *[
            f"Run {i + 1}: `{r['command']}` at commit {r['commit']}"
            f"{' (with uncommitted changes)' if r['dirty'] else ''}"
            f", {r['mutants']} mutant(s), baseline (no mutant) green in {r['baseline_wall_s']} s."
            for i, r in enumerate(rep["runs"])
        ],
        *(
            [
                "",
                "Later runs re-ran the survivors of earlier ones after tests were added (adding a test can only "
                "turn a survivor into a caught mutant; the tests that were there are unchanged).",
            ]
            if len(rep["runs"]) > 1
            else []
        ),
        "",
        f"- Trading core (pre-trade, positions, order states): **{core['caught']}/{core['counted']} caught "
        f"({_pct(core['score'])})**, target {_pct(TARGET_CORE)}.",
        f"- All areas: **{overall['caught']}/{overall['counted']} caught ({_pct(overall['score'])})**, target "
        f"{_pct(TARGET_OVERALL)}; {overall['equivalent']} equivalent mutant(s) left out of the score.",
        f"- Caught by exactly one test: {overall['caught_by_one_test']} of {overall['caught']}.",
        "",
    ]
    if rep["ignored"]:
        lines += [f"Run without: {', '.join(f'`{p}`' for p in rep['ignored'])}.", ""]
    lines += ["| area | caught | mutants | score | equivalent | caught by one test |", "|---|---|---|---|---|---|"]
    for a in rep["areas"].values():
        lines.append(
            f"| {a['title']}{' (core)' if a['core'] else ''} | {a['caught']} | {a['counted']} | "
            f"{_pct(a['score'])} | {a['equivalent']} | {a['caught_by_one_test']} |"
        )
    survivors = [r for r in rep["mutants"] if not r["caught"]]
    lines += ["", "## Survivors", ""]
    if not survivors:
        lines.append("None.")
    for r in survivors:
        why = f"equivalent: {r['equivalent']}" if r["equivalent"] else "NOT caught: no test fails"
        lines.append(f"- `{r['id']}` ({r['file']}:{r['line']}) {r['bug']}. {why}.")
    lines += ["", "## Every mutant", "", "| id | where | bug | caught by (tests) | run |", "|---|---|---|---|---|"]
    for r in rep["mutants"]:
        by = (
            ("timeout" if r["timeout"] else str(r["caught_by"]))
            if r["caught"]
            else ("equivalent" if r["equivalent"] else "**missed**")
        )
        lines.append(f"| `{r['id']}` | {r['file']}:{r['line']} | {r['bug']} | {by} | {r['run'] + 1} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still remove the scratch copies
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", action="append", help="only these areas (repeatable)")
    ap.add_argument("--id", action="append", help="only these mutants (repeatable)")
    ap.add_argument("--ignore", action="append", default=[], help="test file or folder to leave out (repeatable)")
    ap.add_argument("--workers", type=int, default=1, help="scratch copies run side by side (default 1)")
    ap.add_argument("--timeout-s", type=float, default=600.0, help="per mutant")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="mutation", help="file stem of the results")
    ap.add_argument("--check", action="store_true", help="only check that the catalogue applies")
    ap.add_argument(
        "--update",
        action="store_true",
        help="re-run the survivors (or --id) of the results already in --out, keep the other rows",
    )
    args = ap.parse_args()
    areas, mutants = load()
    problems = check(areas, mutants)
    if problems or args.check:
        print("\n".join(problems) or f"catalogue sound: {len(mutants)} mutants in {len(areas)} areas")
        raise SystemExit(1 if problems else 0)
    todo = [m for m in mutants if (not args.area or m.area in args.area) and (not args.id or m.id in args.id)]
    prior: dict = {}
    if args.update:
        prior = json.loads((args.out / f"{args.name}.json").read_text())
        if prior["ignored"] != args.ignore:
            raise SystemExit(f"--update must leave out the same tests as the run it updates ({prior['ignored']})")
        again = {r["id"] for r in prior["mutants"] if not r["caught"] and not r["equivalent"]}
        known = {r["id"] for r in prior["mutants"]}
        todo = [m for m in todo if (m.id in args.id if args.id else (m.id in again or m.id not in known))]
    workers = [Worker() for _ in range(max(1, args.workers))]
    try:
        # baseline: every area's tests must pass unmutated, or no mutant result means anything
        t0 = time.perf_counter()
        suites = sorted({tuple(areas[m.area]["tests"]) for m in todo})
        for tests in suites:
            res = run_tests(workers[0].dir, list(tests), args.ignore, args.timeout_s)
            if res["rc"] != 0:
                raise SystemExit(f"baseline failed for {tests}: {res['failed'] or res['tail']}")
        runs = prior.get("runs", [])
        run = {
            **tree_state(),
            "command": " ".join([".venv/bin/python", "scripts/mutation.py", *sys.argv[1:]]),
            "mutants": len(todo),
            "baseline_wall_s": round(time.perf_counter() - t0, 1),
        }
        runs.append(run)
        print(f"baseline green ({run['baseline_wall_s']} s); {len(todo)} mutants, {len(workers)} worker(s)", flush=True)
        free = list(workers)
        rows: list[dict] = []

        def one(m: Mutant) -> dict:
            w = free.pop()
            try:
                return w.run(m, areas[m.area]["tests"], args.ignore, args.timeout_s)
            finally:
                free.append(w)

        with ThreadPoolExecutor(len(workers)) as pool:
            for r in pool.map(one, todo):
                r["run"] = len(runs) - 1
                rows.append(r)
                state = "caught" if r["caught"] else ("equivalent" if r["equivalent"] else "MISSED")
                print(f"  {r['id']:<34} {state:<10} by {r['caught_by']:>3} test(s)  {r['wall_s']:>6.1f} s", flush=True)
    finally:
        for w in workers:
            w.close()
    if prior:  # keep the earlier rows of mutants not re-run, in catalogue order
        new = {r["id"]: r for r in rows}
        old = {r["id"]: r for r in prior["mutants"]}
        rows = [new.get(m.id) or old[m.id] for m in mutants if m.id in new or m.id in old]
    rep = summarise(areas, rows, runs, args.ignore)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(rep, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(rep))
    print(markdown(rep).split("## Every mutant")[0])


if __name__ == "__main__":
    main()
