"""Every registered core survives pickle and deepcopy: a copy steps exactly like the original.

Resuming a run restores cores from a pickle, and search-style evaluation deep-copies them;
both must carry the whole state, random generators included. The property: after a reset
and a few random valid steps, copy the core, then step original and copy with the same
actions and compare everything they return (observations, rewards, terminated, truncated,
every array in the info) and what they expose (state, action mask) for several steps.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from tests.registered_ids import FAST_KWARGS, SUMO_IDS, id_params

NUM_ENVS = 2
COMPARED_STEPS = 4
# the large road networks take ~50 ms a step: fewer examples keep the file fast
EXAMPLES = {
    "routing-anaheim-v0": 3,
    "routing-siouxfalls-v0": 4,
    "urb-anaheim-v0": 2,
    "urb-siouxfalls-v0": 3,
    "urb-v0": 3,
    "urb-braess-v0": 3,
    **dict.fromkeys(SUMO_IDS, 1),  # a day is a SUMO run (about a second)
}
DEFAULT_EXAMPLES = 12
MAX_WARMUP = dict.fromkeys(SUMO_IDS, 1)
DEFAULT_MAX_WARMUP = 14
STEPS = dict.fromkeys(SUMO_IDS, 2)

_CORES: dict[str, envs.BatchedCore] = {}


def _core(env_id: str) -> envs.BatchedCore:
    """One core per id for the whole file (building the road networks is the slow part)."""
    if env_id not in _CORES:
        _CORES[env_id] = envs.make_vec(env_id, num_envs=NUM_ENVS, **FAST_KWARGS.get(env_id, {}))
    return _CORES[env_id]


def _random_actions(core: envs.BatchedCore, rng: np.random.Generator) -> np.ndarray:
    """Valid joint actions: uniform over each agent's unmasked actions, or inside the Box."""
    if core.is_discrete:
        mask = core.action_mask()
        keys = np.where(mask, rng.random(mask.shape), -1.0)
        return keys.argmax(axis=2)
    space = core.action_space
    shape = (core.num_envs, core.num_agents, *space.shape)
    return rng.uniform(space.low, space.high, size=shape).astype(space.dtype)


def _flatten(value, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays as one flat dict keyed by path."""
    if isinstance(value, dict):
        out: dict[str, np.ndarray] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}/{key}"))
        return out
    return {prefix: np.asarray(value)}


def _assert_same(a, b, what: str) -> None:
    fa, fb = _flatten(a), _flatten(b)
    assert fa.keys() == fb.keys(), f"{what}: keys differ"
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key], err_msg=f"{what}{key}")


def _snapshot(core: envs.BatchedCore, returned: tuple) -> dict:
    names = ("obs", "rewards", "terminated", "truncated", "info")
    out = dict(zip(names, returned))
    out["state"] = core.state()
    if core.is_discrete:
        out["action_mask"] = core.action_mask()
    return out


COPIES = {"pickle": lambda core: pickle.loads(pickle.dumps(core)), "deepcopy": copy.deepcopy}


@pytest.mark.parametrize("env_id", id_params(envs.list_envs()))
def test_every_core_survives_pickle_and_deepcopy(env_id):
    core = _core(env_id)

    @settings(max_examples=EXAMPLES.get(env_id, DEFAULT_EXAMPLES), deadline=None)
    @given(
        seed=st.integers(0, 2**32 - 1),
        warmup=st.integers(0, MAX_WARMUP.get(env_id, DEFAULT_MAX_WARMUP)),
        how=st.sampled_from(sorted(COPIES)),
    )
    def check(seed, warmup, how):
        rng = np.random.default_rng(seed)
        core.reset(seed=seed)
        for _ in range(warmup):
            core.step(_random_actions(core, rng))
        twin = COPIES[how](core)
        for step in range(STEPS.get(env_id, COMPARED_STEPS)):
            actions = _random_actions(core, rng)
            ours = _snapshot(core, core.step(actions))
            theirs = _snapshot(twin, twin.step(actions.copy()))
            _assert_same(ours, theirs, f"{env_id} after {how}, step {step}: ")

    check()
