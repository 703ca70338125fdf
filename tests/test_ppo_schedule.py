"""PPO's learning-rate annealing and target-KL early stop."""

import pytest
import torch

import envs
from algorithms.ippo import IPPOConfig, IPPOLearner
from algorithms.on_policy import ppo_update
from algorithms.ppo_config import PPOConfig


def small_ippo(**overrides) -> IPPOLearner:
    cfg = IPPOConfig(rollout_length=4, epochs=1, minibatches=1, **overrides)
    cfg.net.hidden_size = 8
    env = envs.make_vec("Foraging-5x5-2p-1f-coop-v3", num_envs=2)
    return IPPOLearner(cfg, env, seed=0)


def test_learning_rate_anneals_linearly_to_zero_at_the_horizon():
    learner = small_ippo(lr=1e-3)
    per_update = 4 * 2  # rollout_length x num_envs
    learner.set_horizon(5 * per_update)
    rates = [learner.train_iteration()["charts/learning_rate"] for _ in range(5)]
    assert rates == pytest.approx([1e-3 * (1 - k / 5) for k in range(5)])
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(rates[-1])
    assert learner.learning_rate() == 0.0  # the end value, reached at the horizon
    learner.train_iteration()  # past the horizon (a resumed run given more steps): stays at 0
    assert learner.optimizer.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize("anneal, horizon", [(False, 40), (True, None)])
def test_learning_rate_is_constant_without_annealing_or_horizon(anneal, horizon):
    learner = small_ippo(lr=1e-3, anneal_lr=anneal)
    learner.set_horizon(horizon)
    rates = [learner.train_iteration()["charts/learning_rate"] for _ in range(3)]
    assert rates == [1e-3] * 3


def test_target_kl_must_be_positive_or_null():
    with pytest.raises(ValueError, match="algo.target_kl"):
        PPOConfig(target_kl=0.0)
    assert PPOConfig(target_kl=None).target_kl is None


def _bandit_update(target_kl, lr=1.0, epochs=3, minibatches=4):
    """PPO on a 4-armed bandit from uniform logits, with a step size that moves far at once."""
    torch.manual_seed(0)
    logits = torch.nn.Parameter(torch.zeros(4))
    size = 64
    actions = torch.randint(0, 4, (size,))
    data = {
        "actions": actions,
        "log_probs": torch.full((size,), -torch.log(torch.tensor(4.0)).item()),
        "advantages": (actions == 2).float() * 2 - 1,
        "targets": torch.zeros(size),
        "active": torch.ones(size),
    }

    def evaluate(mb):
        dist = torch.distributions.Categorical(logits=logits.expand(len(mb["actions"]), 4))
        return dist.log_prob(mb["actions"]), dist.entropy(), torch.zeros(len(mb["actions"]))

    cfg = PPOConfig(epochs=epochs, minibatches=minibatches, ent_coef=0.0, target_kl=target_kl)
    optimizer = torch.optim.SGD([logits], lr=lr)
    generator = torch.Generator().manual_seed(0)
    metrics = ppo_update(
        data, size, evaluate, optimizer, [logits], cfg, generator, 1, target_kl=target_kl
    )
    new = torch.distributions.Categorical(logits=logits.detach())
    kl = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=torch.zeros(4)), new
    )
    return metrics, float(kl)


def test_an_update_stops_early_once_kl_exceeds_the_target():
    full, kl_full = _bandit_update(None)
    assert "update_fraction" not in full  # no target: every step taken, nothing extra logged
    stopped, kl_stopped = _bandit_update(0.01)
    assert 0 < stopped["update_fraction"] < 1
    assert kl_stopped < kl_full  # it moved less far from the behaviour policy
    loose, kl_loose = _bandit_update(1e9)
    assert loose["update_fraction"] == 1.0 and kl_loose == pytest.approx(kl_full)
