"""PettingZoo's own test utilities run against a marlgym env id: one call per parameter set."""

from __future__ import annotations

import warnings

from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test
from pettingzoo.utils import parallel_to_aec

import envs


def check_pettingzoo_api(env_id: str, num_cycles: int = 60, **kwargs) -> None:
    """parallel_api_test, api_test via parallel_to_aec, parallel_seed_test and render_test."""

    def parallel_fn(render_mode=None):
        return envs.make(env_id, render_mode=render_mode, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PettingZoo's advisory warnings (agent naming etc.)
        parallel_api_test(parallel_fn(), num_cycles=num_cycles)
        api_test(parallel_to_aec(parallel_fn()), num_cycles=num_cycles)
        parallel_seed_test(parallel_fn, num_cycles=num_cycles)
        render_test(lambda render_mode=None: parallel_to_aec(parallel_fn(render_mode)))
