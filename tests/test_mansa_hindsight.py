"""MANSA's ``switcher.mode=hindsight``: after each rollout the central rule takes the steps where
the two critics' advantages disagree most (on-policy ``switch=learn``)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mansa_learn import agents, alone, learn, same_parameters
from toy_envs import CoordinationCore

from algorithms.mansa.learn_policy import advantage_disagreement, hindsight_calls
from train import ConfigError, load_config


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_hindsight_calls_are_the_largest_signals_among_live_steps(t, b, rate, seed):
    rng = np.random.default_rng(seed)
    signal = rng.integers(0, 4, size=(t, b)).astype(float)  # ties are common
    live = rng.random((t, b)) < 0.8
    called = hindsight_calls(signal, live, rate)
    k = int(round(rate * live.sum()))
    assert called.sum() == k and not (called & ~live).any()
    if 0 < k < live.sum():  # every called step's signal >= every live uncalled step's
        assert signal[called].min() >= signal[live & ~called].max()
    # ties go to the earlier step, then the lower copy (row-major order)
    ranked = sorted(zip(*np.nonzero(live), strict=True), key=lambda ij: -signal[ij])
    expected = np.zeros_like(called)
    for ij in ranked[:k]:
        expected[ij] = True
    assert (called == expected).all()


def hindsight(rate, seed=3, copies=4):
    return learn(
        CoordinationCore(copies, length=5),
        seed,
        il="ippo",
        cl="mappo",
        switcher={"mode": "hindsight", "rate": rate},
    )


@pytest.mark.parametrize(("rate", "ends"), [(0.0, "ippo"), (1.0, "mappo")])
def test_hindsight_at_rate_zero_and_one_is_the_learner_alone_bit_for_bit(rate, ends):
    learner = hindsight(rate)
    reference = alone(ends, CoordinationCore(4, length=5), 3, rollout_length=learner.length)
    for _ in range(6):
        metrics = learner.train_iteration()
        reference.train_iteration()
        assert metrics["mansa/cl_fraction"] == rate == metrics["mansa/cl_update_share"]
    assert same_parameters(agents(learner, "ippo"), agents(reference, "ippo"))
    critic = learner.il.cl.learner.critic if ends == "mappo" else learner.il.learner.critic
    assert same_parameters(critic, reference.critic)


def test_hindsight_hands_the_most_disputed_steps_to_the_central_critic(monkeypatch):
    learner = hindsight(0.25, copies=8)
    seen = {}

    def spy(il, cl, obs, state):
        seen["signal"] = advantage_disagreement(il, cl, obs, state)
        return seen["signal"]

    monkeypatch.setattr(
        learner.il, "signal", lambda obs, state: spy(learner.il.il, learner.il.cl, obs, state)
    )
    for _ in range(3):
        metrics = learner.train_iteration()
        called = learner.rollout_calls
        assert called.sum() == round(0.25 * called.size) and metrics["mansa/cl_fraction"] == 0.25
        assert seen["signal"][called].min() >= seen["signal"][~called].max()
        # the central critic serves exactly the called steps, the local one the others
        central = learner.il.cl.learner.buffer["active"].sum(-1) > 0
        local = learner.il.il.learner.buffer["active"].sum(-1) > 0
        assert torch.equal(central, torch.as_tensor(called)) and not (central & local).any()
        assert (learner.il.cl.own_rows == called).all() and (
            learner.il.il.own_rows == ~called
        ).all()
    assert learner.cl_calls == learner.cl_calls_by_step.sum() == round(0.25 * learner.env_steps)


@pytest.mark.parametrize(
    "overrides",
    [
        ["algo.switcher.mode=hindsight"],  # switch=act
        ["algo.switcher.mode=hindsight", "algo.switch=learn"],  # the value pairing
        [  # a budget
            "algo.switcher.mode=hindsight",
            "algo.switch=learn",
            "algo.il=ippo",
            "algo.cl=mappo",
        ],
    ],
)
def test_hindsight_needs_on_policy_switch_learn_without_a_budget(overrides):
    with pytest.raises(ConfigError, match="switcher.mode=hindsight .* needs algo.switch=learn"):
        load_config(None, ["algo=mansa", *overrides])
    fine = ["algo.switch=learn", "algo.il=ippo", "algo.cl=mappo", "algo.budget=null"]
    load_config(None, ["algo=mansa", "algo.switcher.mode=hindsight", *fine])


def test_the_share_table_gives_each_rate_its_mean_return(tmp_path):
    from benchmarks.mansa_hindsight import plot, table

    def run(method, seed, ret, share=None):
        return {
            "method": method,
            "seed": seed,
            "final_greedy_return": ret,
            "train_cl_update_share": share,
            "train_seconds": 100.0,
        }

    picked = {
        ("mansa", 0.05): [run("mansa", 1, 0.5, 0.05), run("mansa", 0, 0.7, 0.05)],
        ("control", 0.05): [run("control", 0, 0.4, 0.049), run("control", 1, 0.6, 0.051)],
    }
    alone = {"il": [run("il", 0, 0.6), run("il", 1, 0.7)], "cl": [run("cl", 0, 1.0)]}
    lines = table(picked, alone).splitlines()
    assert "| none (IPPO alone) | 0 | 2 | 0.650 | 0.600 / 0.700 | 0% |" in lines[2]
    assert "| random steps | 0.05 | 2 | 0.500 | 0.400 / 0.600 | 5.00% |" in lines[3]
    # per seed in seed order, whatever the order of the runs
    assert (
        "| hindsight (most disputed steps) | 0.05 | 2 | 0.600 | 0.700 / 0.500 | 5.00% |" in lines[4]
    )
    assert "| all (MAPPO alone) | 1 | 1 | 1.000 | 1.000 | 100% | - |" in lines[5]
    assert lines[4].endswith("| 100 |")  # wall-clock of the runs made for the table only
    plot(picked, alone, str(tmp_path / "plot.png"))
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_the_share_table_refuses_an_unknown_task():
    from benchmarks.mansa_hindsight import main

    with pytest.raises(
        SystemExit, match="unknown task '8x8'; tasks: 2s-8x8-2p-2f-coop, 2s-8x8-2p-3f"
    ):
        main(["8x8"])
