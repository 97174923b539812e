import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: a second intra-op thread only adds waits, long ones on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
