"""Learning tests: each on-policy learner beats random play on a small foraging task.

Foraging-5x5-2p-1f-coop-v3: two players must load the one food together. Each learner trains
for a fixed number of updates (about 10-20 s on a 2-core machine) and its greedy policy is
compared with uniformly random valid actions over the same 64 evaluation layouts.
"""

import numpy as np
import pytest
from toy_envs import one_torch_thread  # noqa: F401  (autouse fixture)

import envs
from algorithms import get_algorithm
from algorithms.runs.evaluation import evaluate

ENV_ID = "Foraging-5x5-2p-1f-coop-v3"


def make_env(copies: int):
    return envs.make_vec(ENV_ID, copies)


def random_return() -> float:
    rng = np.random.default_rng(0)

    def act(obs, mask, state, hidden):
        # a uniformly random valid action per agent: argmax of random scores over the mask
        return np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=-1), hidden

    return float(np.mean(evaluate(act, make_env, 64, seed=7)["return"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ippo", "mappo", "mfac"])
def test_learner_beats_random_on_small_foraging(name):
    config_cls, learner_cls = get_algorithm(name)
    learner = learner_cls(config_cls(), make_env(64), "cpu", 0)
    for _ in range(40):
        learner.train_iteration()
    greedy = float(np.mean(evaluate(learner.act, make_env, 64, seed=7)["return"]))
    baseline = random_return()
    assert baseline < 0.3
    assert greedy > baseline + 0.5, f"{name}: greedy return {greedy:.3f} vs random {baseline:.3f}"
