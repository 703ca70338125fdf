"""``init_policy``: a new run starts from a saved policy (fine-tuning, curriculum stages)."""

import pytest
import torch

import train
from agents.policy import Policy
from algorithms.runs import acting
from algorithms.runs.config import ConfigError, build

pytestmark = pytest.mark.usefixtures("one_thread")

DONOR = [
    "env.id=donor-stern-judging-v0",
    "env.num_envs=4",
    "algo=ippo",
    "algo.rollout_length=12",
    "algo.net.agent_id=false",
    "total_env_steps=96",
    "eval.every_env_steps=0",
    "eval.episodes=2",
    "eval.absolute_episodes=0",
    "log.progress=false",
    "log.tensorboard=false",
]


def finished_run(tmp_path, *overrides):
    cfg = train.load_config(None, [*DONOR, f"log.dir={tmp_path}", *overrides])
    result = train.train(cfg)
    assert result.status == "finished", result.message
    return result.run_dir


def weights(path):
    return Policy.load(path).state_dict()


def test_a_run_starts_from_the_saved_policy_of_another_env_size(tmp_path):
    first = finished_run(tmp_path / "a", "env.kwargs.seeded_discriminators=4", "seed=1")
    # 8 agents before, 12 now: without agent ids the shared network fits both; a learning
    # rate of 1e-30 moves no weight by more than 1e-28, so the saved policy is the loaded one
    second = finished_run(tmp_path / "b", f"init_policy={first}", "algo.lr=1e-30", "seed=2")
    before, after = weights(f"{first}/policy.pt"), weights(f"{second}/policy.pt")
    assert before.keys() == after.keys()
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=1e-20)
    fresh = finished_run(tmp_path / "c", "algo.lr=1e-30", "seed=2")  # the control: a new network
    assert any(not torch.equal(weights(f"{fresh}/policy.pt")[k], before[k]) for k in before)


def test_value_learners_load_their_q_network(tmp_path):
    value = ["algo=iql", "algo.batch_size=2", "algo.rollout_length=12"]
    first = finished_run(tmp_path / "a", *value)
    cfg = train.load_config(None, [*DONOR, *value, f"init_policy={first}/policy.pt"])
    _, learner = build(cfg)
    acting.start_from(learner, cfg.init_policy)
    saved = weights(f"{first}/policy.pt")
    for key, value_ in learner.policy().state_dict().items():
        torch.testing.assert_close(value_, saved[key], rtol=0, atol=0)


def test_a_missing_or_unfitting_policy_is_refused_before_the_run_starts(tmp_path):
    with pytest.raises(ConfigError, match=r"init_policy: no policy file at .*nowhere"):
        finished_run(tmp_path / "x", f"init_policy={tmp_path / 'nowhere'}")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    with_ids = finished_run(tmp_path / "a", "algo.net.agent_id=true")
    with pytest.raises(ConfigError, match=r"init_policy: the policy in .* does not fit .*PPO"):
        finished_run(tmp_path / "b", f"init_policy={with_ids}", "env.kwargs.num_agents=6")
