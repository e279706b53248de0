"""Suite-wide test settings."""

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread per test process: the models here are tiny, so extra threads only add
    synchronization, and the suite runs one worker per core (pytest -n 2)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """The first 300 training digits with labels, and 100 test digits (as floats) with labels."""
    from vaekit.data import load_digits

    data = load_digits()
    return data.train.x[:300], data.train.y[:300], data.test.float()[:100], data.test.y[:100]


@pytest.fixture(autouse=True)
def forget_parts_registered_by_a_test():
    """A part a test defines and registers (a tokenizer, the README's model) is forgotten after it, so every
    test can run again in the same process (mutation testing runs the suite twice in one interpreter). Parts of
    vaekit itself stay: their modules register them once, on first import, which may happen inside a test."""
    from vaekit import registry

    before = {kind: set(table) for kind, table in registry._REGISTRIES.items()}
    yield
    for kind, table in registry._REGISTRIES.items():
        for name in set(table) - before.get(kind, set()):
            if not table[name].__module__.startswith("vaekit"):
                del table[name]


def pytest_collection_modifyitems(config, items):
    """While mutmut runs a mutant (it sets MUTANT_UNDER_TEST), the end-to-end tests marked ``slow`` are skipped:
    they check plumbing, not equations, and would take most of a mutation run's hours. ``make test`` runs them."""
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    skip = pytest.mark.skip(reason="end-to-end test, skipped under mutation testing")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
