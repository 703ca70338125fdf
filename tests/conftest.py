"""Test-wide settings: headless pygame, hypothesis profiles that keep the suite fast, and a
fixture that runs a test on one torch thread."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=50, deadline=None)
settings.load_profile("ci")


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (bit-exact digests, and tiny nets run fastest so)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
