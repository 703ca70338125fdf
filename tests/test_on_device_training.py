"""Training on a torch core where its tensors are (``env.device``, issue 25): the on-policy
learners step the torch core with tensors and keep the rollout on its device, the value learners
keep their episode replay there; both learn and resume. CI has no GPU, so everything here runs
the torch path on the CPU."""

import io

import numpy as np
import pytest
import torch
from test_on_policy_foraging import ENV_ID as FORAGING
from test_on_policy_foraging import make_env as numpy_env
from test_on_policy_foraging import random_return
from toy_envs import one_torch_thread  # noqa: F401  (autouse fixture)

import envs
import train
from algorithms import get_algorithm
from algorithms.config import build_config
from algorithms.runs.evaluation import evaluate


def torch_env(env_id=FORAGING, copies=64, **kwargs):
    return envs.make_vec(env_id, copies, device="cpu", **kwargs)


def resumed(learner, fresh):
    """``fresh`` loaded with ``learner``'s state through a pickle round trip, as a checkpoint."""
    buffer = io.BytesIO()
    torch.save(learner.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=False))
    return fresh


def spy_on_actions(env, monkeypatch) -> list:
    """The (type, device) of every action batch ``env.step`` receives from now on."""
    seen = []
    step = env.step

    def spy(actions):
        seen.append((type(actions), actions.device))
        return step(actions)

    monkeypatch.setattr(env, "step", spy)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ippo", "mappo"])
def test_a_learner_trained_on_the_torch_core_beats_random_on_the_numpy_core(name):
    """Same rules on both cores: a policy trained on the torch core plays the numpy one."""
    config_cls, learner_cls = get_algorithm(name)
    learner = learner_cls(config_cls(), torch_env(), "cpu", 0)
    for _ in range(40):
        learner.train_iteration()
    played = float(np.mean(evaluate(learner.act, numpy_env, 64, seed=7)["return"]))
    assert played > random_return() + 0.5, f"{name}: {played:.3f}"


@pytest.mark.parametrize(
    ("name", "env_id", "kwargs", "settings"),
    [
        ("ippo", FORAGING, {}, {}),
        ("mappo", FORAGING, {}, {}),
        ("mfac", FORAGING, {}, {}),
        ("mappo", FORAGING, {}, {"net": {"recurrent": True}}),
        ("ippo", "swarming-vicsek-v0", {"num_agents": 6}, {}),
        ("ippo", "swarming-vicsek-v0", {"num_agents": 6, "actions": "continuous"}, {}),
        ("decpomfc", "swarming-vicsek-v0", {"num_agents": 6}, {}),
    ],
)
def test_rollouts_never_cross_to_numpy(name, env_id, kwargs, settings, monkeypatch):
    """Every action the core receives is a tensor on its device (the core refuses numpy), the
    rollout buffer lives there, and the episode statistics still reach the learner."""
    config_cls, learner_cls = get_algorithm(name)
    env = torch_env(env_id, 8, **kwargs)
    seen = spy_on_actions(env, monkeypatch)
    cfg = build_config(config_cls, {"rollout_length": 32, **settings})
    learner = learner_cls(cfg, env, "cpu", 0)
    assert learner.on_device
    for _ in range(8):
        learner.train_iteration()
    assert seen and all(kind is torch.Tensor and dev == env.device for kind, dev in seen)
    assert all(t.device == env.device for t in learner.buffer.data.values())
    assert learner.episodes.drain()["return"]  # episodes ended and were recorded


@pytest.mark.parametrize("name", ["iql", "qmix"])
def test_a_value_learner_trained_on_the_torch_core_beats_random_on_the_numpy_core(name):
    """The value learners' learning test (test_value_learners.py), trained on the torch core."""
    from test_value_learners import LEARN, assert_learns_small_foraging

    assert_learns_small_foraging(name, torch_env(LEARN, 32))


@pytest.mark.parametrize(
    ("name", "settings"), [("iql", {}), ("qmix", {"net": {"recurrent": True}})]
)
def test_value_collection_and_replay_never_cross_to_numpy(name, settings, monkeypatch):
    """Every action the torch core receives is a tensor on its device, and the episodes in
    progress, the replay and the sampled batches live there."""
    config_cls, learner_cls = get_algorithm(name)
    env = torch_env(copies=8)
    seen = spy_on_actions(env, monkeypatch)
    cfg = build_config(config_cls, {"batch_size": 4, "env_steps_per_update": 8, **settings})
    learner = learner_cls(cfg, env, "cpu", 0)
    assert learner.on_device
    while learner.gradient_updates < 3:
        learner.train_iteration()
    assert seen and all(kind is torch.Tensor and dev == env.device for kind, dev in seen)
    stored = [*learner.replay.data.values(), *learner.writer.data.values(), learner.replay.lengths]
    assert all(torch.is_tensor(t) and t.device == env.device for t in stored)
    batch = learner.replay.sample(4, learner.rng)
    assert all(t.device == env.device for t in batch.values())
    assert learner.episodes.drain()["return"]


@pytest.mark.parametrize("name", ["iql", "qmix"])
def test_a_value_learner_resumes_on_the_torch_core_bit_for_bit(name):
    config_cls, learner_cls = get_algorithm(name)
    cfg = config_cls(batch_size=4, env_steps_per_update=8)

    def fresh():
        return learner_cls(cfg, torch_env(copies=8), "cpu", 0)

    a = fresh()
    while a.gradient_updates < 3:
        a.train_iteration()
    b = resumed(a, fresh())
    for _ in range(5):
        a.train_iteration()
        b.train_iteration()
    for x, y in zip(a.q_net.state_dict().values(), b.q_net.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    assert torch.equal(a.replay.data["obs"], b.replay.data["obs"])


def test_resuming_on_the_torch_core_is_bit_for_bit():
    config_cls, learner_cls = get_algorithm("ippo")
    cfg = config_cls(rollout_length=16)
    a = learner_cls(cfg, torch_env(copies=8), "cpu", 0)
    for _ in range(3):
        a.train_iteration()
    b = resumed(a, learner_cls(cfg, torch_env(copies=8), "cpu", 0))
    for _ in range(3):
        a.train_iteration()
        b.train_iteration()
    for x, y in zip(a.actor.state_dict().values(), b.actor.state_dict().values(), strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("algo", ["ippo", "qmix"])
def test_train_py_runs_on_the_torch_core(tmp_path, algo):
    overrides = [
        f"algo={algo}",
        "env.id=" + FORAGING,
        "env.device=cpu",
        "env.num_envs=8",
        "total_env_steps=2048",
        "eval.every_env_steps=1024",
        "eval.episodes=4",
        "eval.absolute_episodes=0",
        f"log.dir={tmp_path}",
        "log.progress=false",
        "log.tensorboard=false",
        "run_name=dev",
    ]
    assert train.main(overrides) == 0
    env, learner = train.build(train.load_config(None, overrides))
    assert learner.on_device and env.device == torch.device("cpu")
    assert (tmp_path / "dev" / "eval.json").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["env.device=cuda"], "env.device=cuda steps the env there, but device=cpu"),
        (["env.device=gpu"], "env.device must be 'cpu', 'cuda', 'cuda:N' or null"),
        (["env.device=cpu", "algo=mfq"], "mfq cannot train on a torch core; the learners that can"),
        (["env.device=cpu", "env.id=donor-v0"], "donor-v0 has no torch core; torch cores exist"),
    ],
)
def test_bad_device_settings_are_refused_before_training(overrides, message):
    with pytest.raises(train.ConfigError, match=message):
        train.build(train.load_config(None, overrides))
