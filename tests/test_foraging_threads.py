"""The foraging kernels' thread knob: parallel slices of copies step exactly like one loop."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import envs
from envs.foraging import kernels


def test_parallel_kernels_match_the_serial_ones():
    b = 2 * kernels.MIN_COPIES_PER_THREAD
    serial = envs.make_vec("Foraging-10x10-3p-3f-v3", b, threads=1)
    parallel = envs.make_vec("Foraging-10x10-3p-3f-v3", b, threads=1)
    parallel._chunks = 2  # two slices even where numba has one thread: same arithmetic
    np.testing.assert_array_equal(serial.reset(seed=5)[0], parallel.reset(seed=5)[0])
    rng = np.random.default_rng(0)
    for _ in range(60):  # past the 50-step limit: auto-resets included
        actions = rng.integers(0, 6, (b, 3))
        for ours, theirs in zip(serial.step(actions)[:4], parallel.step(actions)[:4]):
            np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(serial.action_mask(), parallel.action_mask())


def test_threads_default_to_all_cores_and_small_batches_stay_serial():
    core = envs.make_vec("foraging-v0", 4)
    assert core.threads == numba.config.NUMBA_NUM_THREADS
    assert kernels.chunks_for(4, 8) == 1
    assert kernels.chunks_for(1, 1) == 1
    assert kernels.chunks_for(64 * kernels.MIN_COPIES_PER_THREAD, 8) == 8


@pytest.mark.parametrize("threads", [0, 10_000, 1.5, True])
def test_bad_thread_counts_raise_one_clear_error(threads):
    with pytest.raises(ValueError, match="threads must be an integer in 1"):
        envs.make_vec("foraging-v0", 1, threads=threads)
