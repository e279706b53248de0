"""Mutation testing of vaekit's maths modules: how many one-token changes of the equations the tests catch.

    python benchmarks/mutation.py                   # every module in [tool.mutmut] only_mutate (slow: hours on 2 cores)
    python benchmarks/mutation.py --max-children 2  # worker processes
    python benchmarks/mutation.py --report-only     # summarise the last run without running again
    python benchmarks/mutation.py --rerun-survivors # after adding tests: run the survivors of the last run again

mutmut copies the package to mutants/, changes one operator, constant, argument or string at a time, and runs
the tests that cover the changed function. A mutant that no test fails "survives". Survivors that cannot be
killed (an equivalent change, e.g. ``sum(-1)`` -> ``sum(+1)`` on a 2-D tensor) are listed with a one-line reason
in benchmarks/mutation_justified.txt and count as killed in the score. Lines that hold no equation (message
text, report layout) or whose mutants are equivalent carry ``# pragma: no mutate (reason)`` and are not mutated;
the report lists them with their reasons. The per-module table goes to RESULTS.md.

mutmut keeps each mutant's verdict until the function it lives in changes, so new tests alone do not revisit old
survivors: ``--rerun-survivors`` names them to mutmut, which then runs them again against the current tests.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from common import append_results, markdown_table

ROOT = Path(__file__).resolve().parent.parent
JUSTIFIED = Path(__file__).with_name("mutation_justified.txt")
LINE = re.compile(r"^\s*(?P<name>[\w.]+)__mutmut_\d+: (?P<status>.+)$")
PRAGMA = re.compile(r"#\s*pragma:\s*no mutate\b\s*(?P<kind>block|start|end)?\s*(?:\((?P<reason>[^)]*)\))?")


def read_justified(path: Path = JUSTIFIED) -> dict[str, str]:
    """Mutant name -> reason, from lines ``name  # reason`` (blank lines and lines starting with # skipped)."""
    justified = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, reason = line.partition("#")
                justified[name.strip()] = reason.strip()
    return justified


def module_of(mutant: str) -> str:
    """``vaekit.objectives.elbo.x_iwae_bound__mutmut_5`` -> ``vaekit/objectives/elbo.py``."""
    dotted = mutant.split(".x", 1)[0] if ".x" in mutant else mutant.rsplit(".", 1)[0]
    return dotted.replace(".", "/") + ".py"


def summarise(results: str, justified: dict[str, str]) -> tuple[list[list[object]], list[str]]:
    """Per-module rows (module, mutants, killed, survived, justified, score) and the unexplained survivors."""
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in results.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        mutant = line.strip().split(":")[0]
        status = match.group("status").strip()
        module = module_of(mutant)
        counts[module]["mutants"] += 1
        if status in ("killed", "timeout", "segfault", "caught by type check"):
            counts[module]["killed"] += 1
        elif mutant in justified:
            counts[module]["justified"] += 1
        elif status in ("survived", "no tests"):
            counts[module]["survived"] += 1
            survivors.append(mutant)
        else:
            counts[module]["not run"] += 1
    rows = []
    for module in sorted(counts):
        c = counts[module]
        run = c["killed"] + c["justified"] + c["survived"]
        score = f"{(c['killed'] + c['justified']) / run:.1%}" if run else "-"
        rows.append([module, c["mutants"], c["killed"], c["survived"], c["justified"], c["not run"], score])
    total: Counter = sum(counts.values(), Counter())
    run = total["killed"] + total["justified"] + total["survived"]
    score = f"{(total['killed'] + total['justified']) / run:.1%}" if run else "-"
    keys = ("mutants", "killed", "survived", "justified", "not run")
    rows.append(["**all**", *(total[k] for k in keys), score])
    return rows, survivors


def mutated_files(root: Path = ROOT) -> list[Path]:
    """The source files ``[tool.mutmut]`` mutates: ``only_mutate`` globs minus ``do_not_mutate``."""
    import tomllib

    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]

    def matches(path: Path, patterns: list[str]) -> bool:  # fnmatch, as mutmut does: "*" also crosses "/"
        return any(fnmatch.fnmatch(str(path.relative_to(root)), pattern) for pattern in patterns)

    return sorted(
        path
        for path in root.glob("vaekit/**/*.py")
        if matches(path, settings["only_mutate"]) and not matches(path, settings.get("do_not_mutate", []))
    )


def excluded_lines(files: list[Path], root: Path = ROOT) -> list[tuple[str, int, str]]:
    """(file, line, reason) of every ``# pragma: no mutate`` line in ``files``; the reason is the parenthesis."""
    found = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = PRAGMA.search(line)
            if match and match.group("kind") != "end":
                reason = match.group("reason") or "(no reason given)"
                if match.group("kind"):
                    reason = f"{match.group('kind')}: {reason}"
                found.append((str(path.relative_to(root)), number, reason))
    return found


def survivor_names(results: str) -> list[str]:
    """Names of the mutants the last run left as survived or without tests."""
    names = []
    for line in results.splitlines():
        name, _, status = line.strip().partition(": ")
        if status.strip() in ("survived", "no tests"):
            names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=2, help="mutmut worker processes")
    parser.add_argument("--report-only", action="store_true", help="summarise the last run only")
    parser.add_argument("--rerun-survivors", action="store_true", help="run the last run's survivors again")
    args = parser.parse_args()
    mutmut = [sys.executable, "-m", "mutmut"]
    run = [*mutmut, "run", "--max-children", str(args.max_children)]
    if args.rerun_survivors:
        listed = subprocess.run([*mutmut, "results"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
        names = survivor_names(listed)
        if names:
            subprocess.run([*run, *names], cwd=ROOT, check=False)
    elif not args.report_only:
        subprocess.run(run, cwd=ROOT, check=False)
    results = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    rows, survivors = summarise(results, read_justified())
    header = ["module", "mutants", "killed", "survived", "justified", "not run", "score"]
    table = markdown_table(header, rows)
    print(table)
    body = table
    pragmas = excluded_lines(mutated_files())
    if pragmas:
        body += f"\n\nLines not mutated ({len(pragmas)}: `# pragma: no mutate`, with the reason in the source):\n\n"
        body += "\n".join(f"- `{path}:{line}` {reason}" for path, line, reason in pragmas)
    if survivors:
        body += "\n\nSurvivors without a justification:\n\n" + "\n".join(f"- `{s}`" for s in survivors)
        print("\n".join(survivors))
    append_results("Mutation testing of the maths modules", body)


if __name__ == "__main__":
    main()
