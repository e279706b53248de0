"""Import molsets's own metric code (the reference the tests compare with) despite two APIs it uses that RDKit
and pandas have since removed: ``rdkit.six.iteritems`` and ``pandas.DataFrame.append``."""

from __future__ import annotations

import sys
import types


def import_moses_metrics():
    """The ``moses.metrics.metrics`` module (None if molsets is not installed)."""
    import pandas as pd
    import pytest

    pytest.importorskip("rdkit")
    if "rdkit.six" not in sys.modules:
        six = types.ModuleType("rdkit.six")
        six.iteritems = lambda d: iter(d.items())
        sys.modules["rdkit.six"] = six
    if not hasattr(pd.DataFrame, "append"):
        pd.DataFrame.append = lambda self, other, **kw: pd.concat([self, pd.DataFrame(other)], **kw)
    return pytest.importorskip("moses.metrics.metrics")
