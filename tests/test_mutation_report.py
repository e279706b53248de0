"""The mutation-testing report: counts per module, justified survivors, and the lines kept from mutation."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import mutation  # noqa: E402

RESULTS = """\
    vaekit.objectives.elbo.x_elbo__mutmut_1: killed
    vaekit.objectives.elbo.x_elbo__mutmut_2: survived
    vaekit.objectives.elbo.x_elbo__mutmut_3: survived
    vaekit.objectives.elbo.xǁELBOǁ__call____mutmut_1: timeout
    vaekit.evaluate.latent.x_active_units__mutmut_4: no tests
    vaekit.evaluate.latent.x_active_units__mutmut_5: not checked
"""


def test_counts_per_module_score_justified_survivors_as_killed():
    rows, survivors = mutation.summarise(RESULTS, {"vaekit.objectives.elbo.x_elbo__mutmut_3": "equivalent"})
    by_module = {row[0]: row[1:] for row in rows}
    # mutants, killed, survived, justified, not run, score
    assert by_module["vaekit/objectives/elbo.py"] == [4, 2, 1, 1, 0, "75.0%"]
    assert by_module["vaekit/evaluate/latent.py"] == [2, 0, 1, 0, 1, "0.0%"]
    assert rows[-1] == ["**all**", 6, 2, 2, 1, 1, "60.0%"]
    assert survivors == ["vaekit.objectives.elbo.x_elbo__mutmut_2", "vaekit.evaluate.latent.x_active_units__mutmut_4"]
    # the rerun list ignores justifications: a new test may kill a justified mutant after all
    assert mutation.survivor_names(RESULTS) == [
        "vaekit.objectives.elbo.x_elbo__mutmut_2",
        "vaekit.objectives.elbo.x_elbo__mutmut_3",
        "vaekit.evaluate.latent.x_active_units__mutmut_4",
    ]


def test_pragma_lines_are_listed_with_their_reasons(tmp_path):
    source = tmp_path / "vaekit" / "m.py"
    source.parent.mkdir()
    source.write_text(
        "def f(x):\n"
        "    y = x + 1\n"
        '    raise ValueError("bad")  # pragma: no mutate (message text)\n'
        "def g():  # pragma: no mutate block (report layout)\n"
        "    return 1  # pragma: no mutate\n"
    )
    assert mutation.excluded_lines([source], root=tmp_path) == [
        ("vaekit/m.py", 3, "message text"),
        ("vaekit/m.py", 4, "block: report layout"),
        ("vaekit/m.py", 5, "(no reason given)"),
    ]


def test_the_mutated_files_follow_only_mutate_minus_do_not_mutate(tmp_path):
    for name in ("vaekit/a/x.py", "vaekit/a/deep/y.py", "vaekit/a/skip.py", "vaekit/b/z.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mutmut]\nonly_mutate = ["vaekit/a/*"]\ndo_not_mutate = ["vaekit/a/skip.py"]\n'
    )
    found = [str(p.relative_to(tmp_path)) for p in mutation.mutated_files(tmp_path)]
    assert found == ["vaekit/a/deep/y.py", "vaekit/a/x.py"]
