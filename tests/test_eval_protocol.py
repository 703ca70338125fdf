"""The evaluation protocol: fresh and fixed episode seeds, held-out episodes, greedy or sampled
actions, and the summary eval.json and the final line give."""

import json
import os

import numpy as np
import pytest

import envs
import train
from algorithms.ippo import IPPOConfig, IPPOLearner
from algorithms.iql import IQLConfig, IQLLearner
from algorithms.runs.evaluation import SELECTION_SEEDS, EvalProtocol

ENV = "Foraging-5x5-2p-1f-coop-v3"


def test_fresh_seeds_advance_per_evaluation_and_the_held_out_set_is_disjoint():
    protocol, episodes, absolute = EvalProtocol(3, "fresh"), 32, 320
    selection = [
        set(range(protocol.seed(episodes, i), protocol.seed(episodes, i) + episodes))
        for i in range(200)
    ]
    assert sum(map(len, selection)) == len(set().union(*selection))  # no episode twice
    held = protocol.seed(absolute, None)
    assert not set().union(*selection) & set(range(held, held + absolute))
    assert held >= protocol.seed(episodes, 0) + SELECTION_SEEDS  # beyond any selection seed
    other_run = EvalProtocol(4, "fresh")
    assert other_run.seed(episodes, 0) >= held + SELECTION_SEEDS  # runs do not share episodes


def test_fixed_seeds_replay_the_same_episodes_as_before():
    protocol = EvalProtocol(3, "fixed")
    assert {protocol.seed(32, i) for i in range(5)} == {protocol.seed(320, None)} == {4_000_012}


def test_unknown_protocol_names_fail_naming_the_choices():
    with pytest.raises(ValueError, match="fresh, fixed"):
        EvalProtocol(0, "new")
    with pytest.raises(ValueError, match="auto, greedy, sampled"):
        EvalProtocol(0, "fresh", "mode")
    with pytest.raises(train.ConfigError, match="eval.episodes_seed must be one of"):
        train.load_config(None, ["eval.episodes_seed=random"])


def _learners():
    env = envs.make_vec(ENV, num_envs=2)
    ippo_cfg = IPPOConfig()
    ippo_cfg.net.hidden_size = 8
    return IPPOLearner(ippo_cfg, env, seed=0), IQLLearner(IQLConfig(), env, seed=0)


def test_auto_samples_on_policy_learners_and_plays_value_learners_greedily():
    ippo, iql = _learners()
    auto = EvalProtocol(0, "fresh", "auto")
    assert not auto.greedy(ippo) and auto.greedy(iql)
    assert EvalProtocol(0, "fresh", "greedy").greedy(ippo)
    assert not EvalProtocol(0, "fresh", "sampled").greedy(ippo)
    assert auto.describe(ippo) == {"episodes_seed": "fresh", "actions": "sampled", "held_out": True}
    swarm = envs.make_vec("swarming-vicsek-v0", num_envs=1, num_agents=4, actions="continuous")
    assert auto.greedy(IPPOLearner(IPPOConfig(), swarm))  # a Gaussian policy: its mean


def test_sampled_actions_repeat_with_the_seed_and_differ_from_greedy():
    ippo, _ = _learners()
    env = envs.make_vec(ENV, num_envs=64)
    obs, _ = env.reset(seed=0)
    mask = env.action_mask()

    def play(actions, seed):
        return EvalProtocol(0, "fresh", actions).act(ippo, seed)(obs, mask, None, None)[0]

    assert np.array_equal(play("sampled", 5), play("sampled", 5))
    assert not np.array_equal(play("sampled", 5), play("sampled", 6))
    assert not np.array_equal(play("sampled", 5), play("greedy", 5))


def _run(tmp_path, *overrides):
    cfg = train.load_config(
        None,
        [
            f"env.id={ENV}",
            "env.num_envs=4",
            "algo.rollout_length=8",
            "algo.net.hidden_size=16",
            "total_env_steps=256",
            "eval.every_env_steps=64",
            "eval.episodes=4",
            "eval.absolute_episodes=12",
            f"log.dir={tmp_path}",
            "log.progress=false",
            "log.tensorboard=false",
            *overrides,
        ],
    )
    seeds = []
    real = train.evaluate

    def spy(act, make_env, episodes, seed, **kw):
        seeds.append((episodes, seed))
        return real(act, make_env, episodes, seed, **kw)

    train.evaluate = spy
    try:
        result = train.train(cfg)
    finally:
        train.evaluate = real
    with open(os.path.join(result.run_dir, "eval.json")) as f:
        entry = json.load(f)["Foraging"]["5x5-2p-1f-coop-v3"]["ippo"]["seed_0"]
    return result, entry, seeds


def test_the_trainer_evaluates_fresh_episodes_and_the_absolute_metric_on_held_out_ones(tmp_path):
    _, _, seeds = _run(tmp_path, "run_name=fresh")
    periodic = [seed for episodes, seed in seeds if episodes == 4]
    absolute = [seed for episodes, seed in seeds if episodes == 12]
    assert len(periodic) == 5 and len(set(periodic)) == 5  # steps 0, 64, ..., 256
    played = {p + k for p in periodic for k in range(4)}
    assert absolute and not played & {a + k for a in absolute for k in range(12)}
    _, _, seeds = _run(tmp_path, "run_name=fixed", "eval.episodes_seed=fixed")
    assert len({seed for _, seed in seeds}) == 1  # the old protocol: one set of seeds


def test_eval_json_and_the_final_line_give_the_final_and_the_best_return(tmp_path):
    result, entry, _ = _run(tmp_path, "run_name=summary", "algo.lr=0.01")
    steps = sorted(
        (v for k, v in entry.items() if k.startswith("step_")), key=lambda v: v["step_count"]
    )
    means = [float(np.mean(v["return"])) for v in steps]
    summary = entry["summary"]
    assert summary["protocol"] == {
        "episodes_seed": "fresh",
        "actions": "sampled",
        "held_out": True,
        "absolute_episodes": 12,
    }
    assert summary["final"]["step_count"] == 256 == result.env_steps
    assert summary["final"]["return"] == pytest.approx(means[-1])
    best = int(np.argmax(means))  # the first of equal bests
    assert summary["best"]["step_count"] == steps[best]["step_count"]
    assert summary["best"]["return"] == pytest.approx(means[best])
    assert summary["best"]["absolute_return"] == pytest.approx(
        np.mean(entry["absolute_metrics"]["return"])
    )
    assert summary["best"]["policy"] == "policy_best.pt"
    assert os.path.isfile(os.path.join(result.run_dir, summary["best"]["policy"]))
    assert summary["final"]["absolute_return"] is not None
    line = result.summary()
    assert f"final sampled eval return {means[-1]:.3f}" in line
    assert f"best {means[best]:.3f} at {steps[best]['step_count']} steps" in line
    assert f"on 12 held-out episodes: best {summary['best']['absolute_return']:.3f}" in line


def test_the_protocol_comparison_script_reads_a_finished_run(tmp_path):
    from benchmarks import eval_protocols

    result, entry, _ = _run(tmp_path, "run_name=script")
    out = tmp_path / "figures.json"
    assert eval_protocols.main([result.run_dir, "--episodes", "4", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["runs"]
    summary = entry["summary"]
    assert row["final"] == pytest.approx(summary["final"]["return"])
    assert row["best"] == pytest.approx(summary["best"]["return"])
    assert row["best_step"] == summary["best"]["step_count"]
    assert row["protocol"] == summary["protocol"]
    assert set(row["held_out"]) == {"final_greedy", "final_sampled", "best_greedy", "best_sampled"}
