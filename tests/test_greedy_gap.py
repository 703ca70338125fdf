"""benchmarks/greedy_gap.py: the frozen-episode census counts what it says, and the script runs on a real run."""

import numpy as np
import pytest

import train
from algorithms.runs.evaluation import evaluate
from benchmarks import greedy_gap


class FixedActions:
    """A stand-in learner: every agent plays ``action`` (0 = NONE on LBF), or uniformly random valid actions."""

    needs_state = False

    def __init__(self, action=None, seed=0):
        self.action, self.rng = action, np.random.default_rng(seed)

    def act(self, obs, mask, state, hidden, greedy=True):
        if self.action is not None:
            return np.full(mask.shape[:2], self.action), hidden
        return (self.rng.random(mask.shape) * mask).argmax(-1), hidden


def act_on_obs(obs, mask, state, hidden):
    """A deterministic policy that varies with the observation (so episodes differ but replay exactly)."""
    return (np.abs(obs.reshape(*obs.shape[:2], -1)).sum(-1) * 7).astype(np.int64) % 6, hidden


def lbf_config(tmp_path, *extra):
    return train.load_config(
        None,
        [
            f"log.dir={tmp_path}",
            "log.progress=false",
            "log.tensorboard=false",
            "env.id=Foraging-5x5-2p-1f-coop-v3",
            "run_name=run",
            *extra,
        ],
    )


def test_standing_still_is_always_frozen_and_random_play_seldom(tmp_path):
    cfg = lbf_config(tmp_path)
    _, share = greedy_gap.greedy_census(FixedActions(action=0), cfg, episodes=20, seed=0, frozen=10)
    assert share == 1.0
    # random valid moves change the observation almost every step: long frozen stretches are rare
    _, share = greedy_gap.greedy_census(FixedActions(), cfg, episodes=20, seed=0, frozen=10)
    assert share <= 0.1


def test_the_census_return_is_the_greedy_evaluation_return(tmp_path):
    """The census plays the same seeded episodes as algorithms.runs.evaluation.evaluate, so its greedy
    return must be evaluate's (which the script therefore does not run a second time)."""
    cfg = lbf_config(tmp_path, "env.id=Foraging-5x5-2p-1f-v3")
    learner = FixedActions()
    learner.act = lambda obs, mask, state, hidden, greedy=True: act_on_obs(obs, mask, state, hidden)
    ret, _ = greedy_gap.greedy_census(learner, cfg, episodes=70, seed=5, frozen=10)
    reference = evaluate(act_on_obs, lambda b: train.make_env(cfg, b), 70, 5)  # in chunks of 64 + 6
    assert np.mean(reference["return"]) > 0
    assert ret == pytest.approx(np.mean(reference["return"]))


def test_the_script_reads_a_finished_run(tmp_path, capsys):
    cfg = lbf_config(
        tmp_path,
        "algo=iql",
        "env.num_envs=4",
        "total_env_steps=800",
        "algo.batch_size=2",
        "eval.every_env_steps=0",
        "eval.episodes=2",
        "eval.absolute_episodes=2",
    )
    result = train.train(cfg)
    assert greedy_gap.main([result.run_dir, "--episodes", "8"]) == 0
    out = capsys.readouterr().out
    assert "greedy return" in out and "stochastic return" in out and "frozen steps" in out


def test_ties_record_the_greedy_probability_at_repeated_observations(tmp_path):
    cfg = lbf_config(tmp_path, "env.num_envs=2")
    _, learner = train.build(cfg)  # an untrained IPPO: near-uniform over its valid actions
    learner.act = lambda obs, mask, state, hidden, greedy=True: (
        np.zeros(mask.shape[:2], int),
        None,
    )
    ties: list[float] = []
    _, share = greedy_gap.greedy_census(learner, cfg, episodes=4, seed=0, frozen=10, ties=ties)
    assert share == 1.0
    assert len(ties) == 4 * 2 * 49  # every step after the first repeats, for each agent
    assert 1 / 6 <= min(ties) and max(ties) < 0.5
