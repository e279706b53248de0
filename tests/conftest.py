"""Suite-wide test settings."""

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
