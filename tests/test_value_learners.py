"""The value-based learners (IQL, VDN, QMIX, MF-Q): flags, masks, stored data, losses, learning, resume, train.py."""

import copy
import io
import json
import os
import pathlib

import numpy as np
import pytest
import torch
from toy_envs import CoordinationCore, MatchParallelEnv, ReachCore

import envs
from agents.networks import NetConfig
from agents.policy import Policy
from algorithms import ALGORITHMS, NonFiniteLossError, get_algorithm
from algorithms.config import build_config
from algorithms.runs.evaluation import evaluate
from envs.generic import ParallelEnvBatch
from train import ConfigError, load_config

torch.set_num_threads(1)  # tiny networks: one thread is fastest, and 2-core CI stays unsaturated

VALUE = ["iql", "vdn", "qmix", "mfq"]
FAST = {
    "rollout_length": 4,
    "batch_size": 4,
    "buffer_size": 64,
    "env_steps_per_update": 8,
    "net": {"hidden_size": 16},
    "target_update_interval": 3,
}
VARIANTS = {
    "shared": {},
    "separate": {"net": {"share_parameters": False}},
    "recurrent": {"net": {"recurrent": True}},
    "soft_single_q": {"target_update": "soft", "double_q": False},
}


def make(name, env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm(name)
    return learner_cls(build_config(config_cls, FAST, overrides), env, "cpu", seed)


def test_registry_holds_the_value_learners_with_flags():
    for name in VALUE:
        config_cls, learner_cls = ALGORITHMS[name]
        assert config_cls().name == name
        assert (
            learner_cls.supports_discrete
            and not learner_cls.supports_continuous
            and not learner_cls.on_policy
        )
    assert ALGORITHMS["qmix"][1].needs_state and not ALGORITHMS["vdn"][1].needs_state
    assert ALGORITHMS["mfq"][1].needs_neighbours and not ALGORITHMS["iql"][1].needs_neighbours
    defaults = ALGORITHMS["qmix"][0]()
    assert (
        defaults.buffer_size,
        defaults.batch_size,
        defaults.lr,
        defaults.target_update_interval,
        defaults.epsilon_start,
        defaults.epsilon_finish,
        defaults.double_q,
    ) == (5000, 32, 5e-4, 200, 1.0, 0.05, True)


@pytest.mark.parametrize("name", VALUE)
def test_continuous_actions_are_refused_before_training(name):
    with pytest.raises(ValueError, match="does not support continuous actions"):
        make(name, ReachCore(2))


def test_bad_config_values_name_the_key():
    config_cls, _ = get_algorithm("qmix")
    with pytest.raises(ValueError, match="algo.target_update must be 'hard' or 'soft'"):
        config_cls(target_update="polyak")
    with pytest.raises(ValueError, match="algo.batch_size .* must not exceed algo.buffer_size"):
        config_cls(batch_size=64, buffer_size=32)
    with pytest.raises(ValueError, match="algo.epsilon_finish must lie in"):
        config_cls(epsilon_finish=1.5)
    with pytest.raises(ValueError, match="recurrent=true is not supported by mfq"):
        get_algorithm("mfq")[0](net=NetConfig(recurrent=True))
    with pytest.raises(ValueError, match="replay buffer would take .* lower algo.buffer_size"):
        make("iql", CoordinationCore(1), buffer_size=10**9, batch_size=4)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", VALUE)
def test_learner_smoke_respects_masks(name, variant):
    if name == "mfq" and variant == "recurrent":
        pytest.skip("MF-Q is feed-forward only")
    env = CoordinationCore(
        4, num_agents=3, masked=True, terminate_on_success=True
    )  # raises on a masked action
    learner = make(name, env, **VARIANTS[variant])
    for _ in range(6):
        metrics = learner.train_iteration()
    assert learner.env_steps == 6 * 4 * 4 and learner.updates == 6 and learner.gradient_updates > 0
    assert {"losses/td_loss", "losses/grad_norm", "losses/q_taken", "losses/target"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    episodes = learner.episodes.drain()
    assert len(episodes["return"]) > 0 and "success_rate" in episodes
    for greedy in (True, False):
        actions, _ = learner.act(
            env._observe(), env.action_mask(), env.state(), None, greedy=greedy
        )
        assert actions.shape == (4, 3) and (actions != 2).all()
    # the standalone policy (policy.pt) acts as the learner's greedy act does, step after step
    # (MF-Q's carries the others' mean action as its hidden state)
    policy, hidden, policy_hidden = learner.policy(), None, None
    obs = env.reset(seed=1)[0]
    for _ in range(3):
        greedy, hidden = learner.act(obs, env.action_mask(), env.state(), hidden)
        mine, policy_hidden = policy.act(obs, env.action_mask(), policy_hidden)
        assert np.array_equal(mine, greedy)
        obs = env.step(greedy)[0]


@pytest.mark.parametrize("copies,terminate", [(1, True), (3, False)])
def test_stored_episodes_are_what_the_env_produced(copies, terminate):
    """Replaying the stored actions in a fresh env gives the stored observations, masks, states,
    rewards and terminations, and the observation after each episode's last step is the final
    one (from before the auto-reset). With one copy, or copies that all end together, slot k
    holds copy ``k % copies``'s episode ``k // copies``."""
    learner = make(
        "qmix",
        CoordinationCore(copies, length=4, terminate_on_success=terminate, masked=True),
        rollout_length=16,
        buffer_size=64,
        batch_size=1,
    )
    learner._collect()
    replay = learner.replay
    assert len(replay) >= 4 * copies
    for b in range(copies):
        env = CoordinationCore(1, length=4, terminate_on_success=terminate, masked=True)
        obs, _ = env.reset(seed=learner.seed + b)
        for slot in range(b, len(replay), copies):
            episode = {k: v[slot] for k, v in replay.data.items()}
            length = int(replay.lengths[slot])
            for t in range(length):
                np.testing.assert_array_equal(episode["obs"][t], obs[0])
                np.testing.assert_array_equal(episode["mask"][t], env.action_mask()[0])
                np.testing.assert_array_equal(episode["state"][t], env.state()[0])
                obs, rewards, terminated, _, info = env.step(episode["actions"][t][None])
                np.testing.assert_array_equal(episode["rewards"][t], rewards[0])
                np.testing.assert_array_equal(episode["terminated"][t], terminated[0])
                assert episode["active"][t].all()
            assert info["_final"][0], "a stored episode ends where the env's episode ends"
            np.testing.assert_array_equal(episode["obs"][length], info["final_obs"][0])
            np.testing.assert_array_equal(episode["state"][length], info["final_state"][0])
            np.testing.assert_array_equal(episode["mask"][length], info["final_action_mask"][0])
            assert not episode["obs"][length + 1 :].any() and not episode["active"][length:].any()
    if terminate:
        assert replay.data["terminated"][: len(replay)].any(), "the test should see terminations"


def test_long_episodes_are_stored_in_chunks_that_join_up():
    learner = make("iql", CoordinationCore(1, length=5), rollout_length=10, max_episode_length=2)
    learner._collect()
    replay = learner.replay
    assert replay.lengths[: len(replay)].tolist() == [2, 2, 1, 2, 2, 1]
    for slot in range(len(replay) - 1):
        length = replay.lengths[slot]
        if slot % 3 != 2:  # the chunk's last observation is the next chunk's first
            np.testing.assert_array_equal(
                replay.data["obs"][slot, length], replay.data["obs"][slot + 1, 0]
            )
    assert not replay.data["terminated"][: len(replay)].any()


def naive_loss(learner, batch):
    """The TD loss computed one (episode, step, agent) at a time from the networks' outputs."""
    cfg, gamma = learner.cfg, learner.cfg.gamma
    obs, actions, rewards = batch["obs"], batch["actions"], batch["rewards"]
    mask, filled, active, term = (
        batch["mask"],
        batch["filled"],
        batch["active"],
        batch["terminated"],
    )
    e, steps, n = actions.shape
    with torch.no_grad():
        if learner.uses_mean_action:
            mean = batch["mean_action"]
            now = mean if cfg.learn_on == "current" else batch["acted_mean"]
            q_now = learner.q_net(torch.cat([obs[:, :-1], now], -1))[0]
            q_next_online = learner.q_net(torch.cat([obs[:, 1:], mean], -1))[0]
            q_next_target = learner.target_q_net(torch.cat([obs[:, 1:], mean], -1))[0]
        else:
            q_all = learner.q_sequence(learner.q_net, obs)
            q_now, q_next_online = q_all[:, :-1], q_all[:, 1:]
            q_next_target = learner.q_sequence(learner.target_q_net, obs)[:, 1:]
    errors, team = [], learner.mixer is not None

    def error(value, target):
        return (value - target) ** 2

    for i in range(e):
        for t in range(steps):
            if not filled[i, t]:
                continue
            taken, nexts, alive = [], [], []
            for j in range(n):
                taken.append(q_now[i, t, j, actions[i, t, j]].item())
                valid = [a for a in range(mask.shape[-1]) if mask[i, t + 1, j, a]]
                if learner.uses_mean_action:
                    logits = (
                        np.array([q_next_online[i, t, j, a].item() for a in valid])
                        / learner.temperature
                    )
                    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
                    nexts.append(
                        sum(p * q_next_target[i, t, j, a].item() for p, a in zip(probs, valid))
                    )
                elif (
                    cfg.bootstrap == "taken" and t + 1 < steps and active[i, t + 1, j]
                ):  # the action taken next
                    nexts.append(q_next_target[i, t, j, actions[i, t + 1, j]].item())
                else:
                    select = q_next_online if cfg.double_q else q_next_target
                    best = max(valid, key=lambda a: select[i, t, j, a].item())
                    nexts.append(q_next_target[i, t, j, best].item())
                alive.append(bool(active[i, t, j]) and not bool(term[i, t, j]))
            if team:
                state = batch.get("state")
                with torch.no_grad():
                    q_tot = learner.mixer(
                        torch.tensor([taken]), None if state is None else state[i, t][None]
                    ).item()
                    v_next = learner.target_mixer(
                        torch.tensor([[v if a else 0.0 for v, a in zip(nexts, alive)]]),
                        None if state is None else state[i, t + 1][None],
                    ).item()
                reward = rewards[i, t].sum().item()
                target = reward + (gamma * v_next if any(alive) else 0.0)
                errors.append(error(q_tot, target))
            else:
                for j in range(n):
                    if active[i, t, j]:
                        target = rewards[i, t, j].item() + (gamma * nexts[j] if alive[j] else 0.0)
                        errors.append(error(taken[j], target))
    return float(np.mean(errors))


@pytest.mark.parametrize(
    "name, extra",
    [
        *((n, {}) for n in VALUE),
        ("mfq", {"learn_on": "previous"}),
        *((n, {"bootstrap": "taken"}) for n in ("iql", "vdn", "qmix")),
    ],
)
def test_loss_matches_a_naive_computation(name, extra):
    """The learner's TD loss on a sampled batch (after some training, so the online and target
    networks differ) equals a per-element loop: double Q over the next step's valid actions (or
    the action taken next, with bootstrap=taken, where a next step was played), no bootstrap
    after a termination, bootstrap after a truncation, padding ignored."""
    env = CoordinationCore(3, num_agents=2, length=4, terminate_on_success=True, masked=True)
    learner = make(name, env, scale_rewards=False, target_update_interval=5, **extra)
    for _ in range(8):
        learner.train_iteration()
    learner._collect()
    sample = learner.replay.sample(16, np.random.default_rng(0))
    batch = {k: torch.as_tensor(v) for k, v in sample.items()}
    assert batch["terminated"].any() and not batch["filled"].all()
    assert any(
        (~batch["terminated"][i, n - 1]).all() for i, n in enumerate(sample["lengths"])
    )  # a truncation
    loss, _ = learner._loss(batch)
    assert loss.item() == pytest.approx(naive_loss(learner, batch), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("anneal", [False, True])
def test_the_learning_rate_anneals_to_zero_at_the_horizon_only_when_asked(anneal):
    learner = make("iql", CoordinationCore(4), lr=1e-3, anneal_lr=anneal)
    learner.set_horizon(4 * learner.cfg.rollout_length * 3)  # three iterations
    rates = [learner.train_iteration()["charts/learning_rate"] for _ in range(4)]
    if not anneal:
        assert rates == [1e-3] * 4 and learner.optimizer.param_groups[0]["lr"] == 1e-3
        return
    # by the env steps collected before each iteration's updates: 1/3, 2/3, 3/3 of the run
    assert rates == pytest.approx([1e-3 * 2 / 3, 1e-3 / 3, 0.0, 0.0])
    assert learner.optimizer.param_groups[0]["lr"] == 0.0


def test_reward_scaling_divides_by_the_running_std():
    learner = make("iql", CoordinationCore(3, length=4, terminate_on_success=True))
    for _ in range(6):
        learner.train_iteration()
    count = learner.reward_norm.count.item()
    assert count > 0
    # the rewards given are folded into the statistics first (padding, weight False, is not)
    weights = torch.tensor([[True, True, False]])
    scaled = learner.scaled_rewards(torch.tensor([[0.25, 0.0, 7.0]]), weights)
    assert learner.reward_norm.count.item() == count + 2
    std = learner.reward_norm.std.item()
    assert scaled[0, 0].item() == pytest.approx(0.25 / std, rel=1e-5) and scaled[0, 1].item() == 0.0


def test_mfq_stores_the_neighbours_mean_action_and_acts_on_the_previous_one():
    current = make(
        "mfq", CoordinationCore(2, num_agents=3, num_actions=3, length=4), rollout_length=3
    )
    current._collect()
    assert (
        "mean_action" in current.writer.data and "acted_mean" not in current.writer.data
    )  # unused there
    learner = make(
        "mfq",
        CoordinationCore(2, num_agents=3, num_actions=3, length=4),
        rollout_length=3,
        learn_on="previous",
    )
    inputs = []
    original = learner._online_q

    def spy(obs, mean, hidden):
        inputs.append(mean.copy())
        return original(obs, mean, hidden)

    learner._online_q = spy
    learner._collect()
    writer = learner.writer
    onehot = np.eye(3, dtype=np.float32)[writer.data["actions"][:, :3]]
    expected = (
        onehot.sum(2, keepdims=True) - onehot
    ) / 2  # everyone else: the default neighbourhood
    np.testing.assert_allclose(writer.data["mean_action"][:, :3], expected)
    np.testing.assert_allclose(
        inputs[0], np.full((2, 3, 3), 1 / 3)
    )  # uniform at an episode's start
    np.testing.assert_allclose(inputs[1], expected[:, 0])
    np.testing.assert_allclose(inputs[2], expected[:, 1])
    np.testing.assert_allclose(
        writer.data["acted_mean"][:, :3], np.stack(inputs, axis=1)
    )  # what it acted on
    assert learner.policy().spec.mean_action_input  # its standalone policy acts on the mean too
    with pytest.raises(ValueError, match="learn_on must be one of"):
        get_algorithm("mfq")[0](learn_on="next")


@pytest.mark.parametrize("name", ["iql", "qmix"])
def test_the_generic_parallel_env_path_trains(name):
    env = ParallelEnvBatch(lambda: MatchParallelEnv(num_agents=2, num_actions=3, length=5), 3)
    learner = make(name, env)
    for _ in range(4):
        metrics = learner.train_iteration()
    assert np.isfinite(metrics["losses/td_loss"])


def families_with_discrete_actions():
    chosen = ["foraging-v0", "swarming-vicsek-v0", "donor-v0", "routing-braess-v0"]
    return [env_id for env_id in chosen if env_id in envs.list_envs()]


@pytest.mark.parametrize("env_id", families_with_discrete_actions())
@pytest.mark.parametrize("name", VALUE)
def test_every_env_family_with_discrete_actions_trains(name, env_id):
    learner = make(
        name,
        envs.make_vec(env_id, 2),
        rollout_length=2,
        buffer_size=8,
        batch_size=1,
        env_steps_per_update=4,
        max_episode_length=3,
    )
    for _ in range(3):
        metrics = learner.train_iteration()
    assert learner.gradient_updates > 0 and np.isfinite(metrics["losses/td_loss"])


# ---------------------------------------------------------------------- learning
LEARN = "Foraging-5x5-2p-1f-coop-v3"


def random_return(episodes=64, seed=12345):
    rng = np.random.default_rng(0)

    def act(obs, mask, state, hidden):
        return (rng.random(mask.shape) * mask).argmax(-1), hidden

    return float(
        np.mean(evaluate(act, lambda b: envs.make_vec(LEARN, b), episodes, seed)["return"])
    )


def assert_learns_small_foraging(name, env):
    """30k env steps on ``env`` (32 copies of LEARN, a numpy or a torch core; a few seconds):
    greedy returns on the numpy core several times random play's (about 0.05)."""
    schedule = (
        {"temperature_anneal_steps": 10_000} if name == "mfq" else {"epsilon_anneal_steps": 10_000}
    )
    config_cls, learner_cls = get_algorithm(name)
    learner = learner_cls(config_cls(batch_size=16, **schedule), env, "cpu", 0)
    while learner.env_steps < 30_000:
        learner.train_iteration()
    greedy = np.mean(evaluate(learner.act, lambda b: envs.make_vec(LEARN, b), 64, 12345)["return"])
    baseline = random_return()
    assert greedy > max(0.25, 4 * baseline), (greedy, baseline)


@pytest.mark.parametrize("name", VALUE)
def test_learners_beat_random_on_small_foraging(name):
    assert_learns_small_foraging(name, envs.make_vec(LEARN, 32))


# ---------------------------------------------------------------------- checkpoints and failures
@pytest.mark.parametrize(
    "name,variant",
    [
        ("iql", "shared"),
        ("vdn", "separate"),
        ("qmix", "recurrent"),
        ("qmix", "soft_single_q"),
        ("mfq", "shared"),
    ],
)
def test_state_dict_resumes_bit_for_bit(name, variant):
    def fresh(seed):
        return make(
            name,
            CoordinationCore(4, masked=True, terminate_on_success=True),
            seed=seed,
            **VARIANTS[variant],
        )

    learner = fresh(0)
    for _ in range(4):
        learner.train_iteration()
    buffer = io.BytesIO()
    torch.save(learner.state_dict(), buffer)  # through a pickle round trip, as a checkpoint
    for _ in range(4):
        learner.train_iteration()
    other = fresh(123)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=False))
    for _ in range(4):
        other.train_iteration()
    for key in ("q_net", "target_q_net", "mixer", "target_mixer", "optimizer"):
        mine, theirs = learner.state_dict()[key], other.state_dict()[key]
        assert (mine is None) == (theirs is None)
        if key == "optimizer":
            mine, theirs = mine["state"][0], theirs["state"][0]
        for a, b in zip((mine or {}).values(), (theirs or {}).values()):
            assert torch.equal(a, b)
    assert (
        other.env_steps == learner.env_steps and other.gradient_updates == learner.gradient_updates
    )
    assert np.array_equal(other._obs, learner._obs)
    for key in learner.replay.data:
        assert np.array_equal(other.replay.data[key], learner.replay.data[key])


def test_nan_loss_is_reported_and_not_applied():
    learner = make("vdn", CoordinationCore(2, nan_after=30))
    with pytest.raises(NonFiniteLossError, match="loss 'td_loss'") as info:
        for _ in range(50):
            before = copy.deepcopy(learner.q_net.state_dict())
            learner.train_iteration()
    assert info.value.update == learner.updates + 1
    for key, value in learner.q_net.state_dict().items():
        assert torch.equal(value, before[key])


# ---------------------------------------------------------------------- through train.py
@pytest.mark.parametrize("name", VALUE)
def test_train_py_writes_the_run_directory_and_resumes(name, tmp_path):
    import train

    def overrides(total, run_name):
        return [
            f"algo={name}",
            f"env.id={LEARN}",
            "env.num_envs=4",
            f"total_env_steps={total}",
            "eval.every_env_steps=240",
            "eval.episodes=4",
            "eval.absolute_episodes=4",
            "log.progress=false",
            f"log.dir={tmp_path}",
            f"run_name={run_name}",
            "checkpoint.every_updates=5",
            "algo.batch_size=4",
            "algo.buffer_size=32",
            "algo.rollout_length=12",
        ]

    result = train.train(train.load_config(None, overrides(480, "run")))
    run = tmp_path / "run"
    assert result.status == "finished" and result.env_steps == 480
    assert {"config.yaml", "metrics.jsonl", "eval.json", "checkpoints"} <= set(os.listdir(run))
    assert "policy.pt" in os.listdir(run)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("losses/td_loss" in line for line in lines)
    evals = json.loads((run / "eval.json").read_text())
    assert "absolute_metrics" in evals["Foraging"]["5x5-2p-1f-coop-v3"][name]["seed_0"]
    policy = Policy.load(run / "policy.pt")
    env = envs.make_vec(LEARN, 2)
    obs, _ = env.reset(seed=0)
    actions, _ = policy.act(obs, env.action_mask())
    assert env.action_mask()[np.arange(2)[:, None], np.arange(2), actions].all()
    resumed = train.train(
        train.load_config(str(run / "config.yaml"), ["total_env_steps=960"]), resume=str(run)
    )
    assert resumed.status == "finished" and resumed.env_steps == 960
    # the resumed run ends exactly where one uninterrupted run of 960 steps ends
    train.train(train.load_config(None, overrides(960, "straight")))
    ends = [
        torch.load(train.latest_checkpoint(str(tmp_path / d)), weights_only=False)["learner"]
        for d in ("run", "straight")
    ]
    for key in ("q_net", "target_q_net", "mixer"):
        for a, b in zip((ends[0][key] or {}).values(), (ends[1][key] or {}).values()):
            assert torch.equal(a, b)
    assert ends[0]["gradient_updates"] == ends[1]["gradient_updates"] > 0


CONFIGS = sorted(
    p
    for p in (pathlib.Path(__file__).parents[1] / "configs").glob("*.yaml")
    if p.name.split("_")[0] in VALUE
)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path):
    import train

    cfg = train.load_config(str(path))
    assert cfg.algo.name == path.name.split("_")[0] and cfg.total_env_steps > 0


def test_value_benchmark_refuses_an_override_no_learner_has(capsys):
    from benchmarks.value_based import main as value_benchmark

    with pytest.raises(SystemExit):
        value_benchmark(["--algos", "iql", "--set", "epsilon_anneal=1000", "--out", "unused"])
    assert (
        "--set epsilon_anneal: no chosen learner (iql) has this key; did you mean 'epsilon_anneal_steps'"
        in capsys.readouterr().err
    )


def test_value_benchmark_table_groups_by_setting_and_reports_best_and_training_returns():
    from benchmarks.value_based import summarise

    def run(seed, final, curve, overrides=None):
        return {
            "env": "Foraging-8x8-2p-2f-coop-v3",
            "algo": "iql",
            "seed": seed,
            "overrides": overrides or {},
            "final_greedy_return": final,
            "env_steps": 1000,
            "train_seconds": 2.0,
            "sps": 500.0,
            "curve": [{"env_steps": 500, "greedy_return": g, "train_return": t} for g, t in curve],
        }

    table = summarise(
        [
            run(0, 0.2, [(0.5, 0.6)]),
            run(1, 0.4, [(0.1, 0.8)]),
            run(0, 0.9, [(0.3, 0.7)], {"recurrent": True}),
        ]
    )
    rows = [line for line in table.splitlines() if line.startswith("| Foraging")]
    assert rows[0].split(" | ")[2:7] == [
        "defaults",
        "2",
        "0.300 ± 0.141 (0.200..0.400)",
        "0.450 ± 0.071",
        "0.700 ± 0.141",
    ]
    assert rows[1].split(" | ")[2:7] == [
        "recurrent=True",
        "1",
        "0.900 ± 0.000 (0.900..0.900)",
        "0.900 ± 0.000",
        "0.700 ± 0.000",
    ]


def test_value_benchmark_table_keeps_budgets_apart():
    from benchmarks.value_based import summarise

    runs = [
        {
            "env": "E",
            "algo": "iql",
            "seed": 0,
            "overrides": {},
            "final_greedy_return": value,
            "env_steps": steps,
            "train_seconds": 1.0,
            "sps": 1.0,
            "curve": [],
        }
        for value, steps in ((0.1, 200), (0.9, 1000))
    ]
    rows = [line.split(" | ") for line in summarise(runs).splitlines() if line.startswith("| E")]
    assert [(row[4].split(" ")[0], row[7]) for row in rows] == [
        ("0.100", "200"),
        ("0.900", "1,000"),
    ]


def test_bootstrap_choices_are_checked():
    with pytest.raises(
        ConfigError, match=r"algo.bootstrap must be one of \['greedy', 'taken'\], got 'sarsa'"
    ):
        load_config(None, ["algo=qmix", "algo.bootstrap=sarsa"])
    with pytest.raises(ConfigError, match="algo.bootstrap must be 'greedy' for mfq"):
        load_config(None, ["algo=mfq", "algo.bootstrap=taken"])
    cfg = load_config(None, ["algo=mansa", "algo.cl_bootstrap=taken"])  # MANSA's CL alone
    assert cfg.algo.cl_config.bootstrap == "taken" and cfg.algo.il_config.bootstrap == "greedy"
