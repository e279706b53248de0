"""Mutation testing of vaekit's maths modules: how many one-token changes of the equations the tests catch.

    python benchmarks/mutation.py                   # every module in [tool.mutmut] only_mutate (slow: hours on 2 cores)
    python benchmarks/mutation.py --max-children 2  # worker processes
    python benchmarks/mutation.py --report-only     # summarise the last run without running again

mutmut copies the package to mutants/, changes one operator, constant, argument or string at a time, and runs
the tests that cover the changed function. A mutant that no test fails "survives". Survivors that cannot be
killed (an equivalent change, e.g. ``sum(-1)`` -> ``sum(+1)`` on a 2-D tensor) are listed with a one-line reason
in benchmarks/mutation_justified.txt and count as killed in the score. The per-module table goes to RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from common import append_results, markdown_table

ROOT = Path(__file__).resolve().parent.parent
JUSTIFIED = Path(__file__).with_name("mutation_justified.txt")
LINE = re.compile(r"^\s*(?P<name>[\w.]+)__mutmut_\d+: (?P<status>.+)$")


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
    return rows, survivors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=2, help="mutmut worker processes")
    parser.add_argument("--report-only", action="store_true", help="summarise the last run only")
    args = parser.parse_args()
    mutmut = [sys.executable, "-m", "mutmut"]
    if not args.report_only:
        subprocess.run([*mutmut, "run", "--max-children", str(args.max_children)], cwd=ROOT, check=False)
    results = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    rows, survivors = summarise(results, read_justified())
    header = ["module", "mutants", "killed", "survived", "justified", "not run", "score"]
    table = markdown_table(header, rows)
    print(table)
    body = table
    if survivors:
        body += "\n\nSurvivors without a justification:\n\n" + "\n".join(f"- `{s}`" for s in survivors)
        print("\n".join(survivors))
    append_results("Mutation testing of the maths modules", body)


if __name__ == "__main__":
    main()
