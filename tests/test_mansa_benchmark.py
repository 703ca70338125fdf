"""benchmarks/mansa.py: a tiny grid end to end through the launchers, the analysis of its run
directories, and a run whose loss turns NaN is recorded, not fatal."""

import json

import numpy as np
import pytest

from algorithms import NonFiniteLossError
from benchmarks import launchers
from benchmarks import mansa as bench
from benchmarks.grid import grid_from_dict
from benchmarks.launchers import RunRecord, execute

TINY = [
    "--envs",
    "Foraging-5x5-2p-1f-coop-v3",
    "--seeds",
    "0",
    "--num-envs",
    "4",
    "--env-steps",
    "256",
    "--eval-every",
    "128",
    "--eval-episodes",
    "4",
    "--curve-episodes",
    "2",
    "--launcher",
    "serial",
]


def tiny(tmp_path, *extra):
    return [*TINY, "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path), *extra]


def test_tiny_grid_writes_table_target_and_plots(tmp_path):
    bench.main(tiny(tmp_path, "--pairing", "policy"))
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "il", "mansa"]
    assert all(r["env_steps"] >= 256 and len(r["curve"]) >= 1 for r in runs)
    (mansa,) = [r for r in runs if r["method"] == "mansa"]
    assert mansa["algo"] == "mansa" and mansa["pairing"] == "policy"
    assert "algo.il=ippo" in mansa["overrides"] and 0.0 <= mansa["train_cl_fraction"] <= 1.0
    assert set(mansa["timers"]) >= {"il_act", "cl_act", "il_update", "cl_update"}
    assert sum(mansa["cl_calls_by_step"]) > 0
    table = (tmp_path / "results.md").read_text()
    assert "Target (issue 8)" in table and "CL calls" in table
    assert {p.name for p in tmp_path.glob("*.png")} == {
        f"5x5-2p-1f-coop_{k}.png" for k in ("curves", "cl_steps", "cl_grid")
    }


@pytest.mark.parametrize("recurrent", [False, True])
def test_value_grid_reports_mansas_parts_and_q_peaks(tmp_path, recurrent):
    small = ["batch_size=2", "env_steps_per_update=8"] + ["net.recurrent=true"] * recurrent
    bench.main(
        [
            *tiny(tmp_path),
            "--methods",
            "mansa",
            "il",
            "--pairing",
            "value",
            "--il-set",
            *small,
            "--cl-set",
            *small,
            "--env-steps",
            "512",
            "--eval-every",
            "256",
        ]
    )  # updates start once 2 episodes end
    il, run = sorted(json.loads((tmp_path / "results.json").read_text()), key=lambda r: r["method"])
    assert set(run["final_part_returns"]) == {
        "il",
        "cl",
        "cl_random_steps",
        "random_random_steps",
        "cl_when_stalled",
    }
    assert 0.0 <= run["eval_sampled_cl_fraction"] <= 1.0
    assert set(run["eval_control_fractions"]) == {
        "cl_random_steps",
        "random_random_steps",
        "cl_when_stalled",
    }
    assert all(
        p["cl_q_taken_max"] is not None and p["il_q_taken_max"] is not None for p in run["curve"]
    )
    assert all(p["il_td_loss"] > 0 and p["cl_td_loss"] > 0 for p in run["curve"])
    assert all(p["td_loss"] is None for p in run["curve"])  # a learner alone's key
    assert all(p["td_loss"] > 0 and p["il_td_loss"] is None for p in il["curve"])
    table = (tmp_path / "results.md").read_text()
    row = next(
        line for line in table.splitlines() if line.startswith("| Foraging-5x5-2p-1f-coop-v3 | 1 |")
    )
    peak = max(p["cl_q_taken_max"] for p in run["curve"])
    assert row.endswith(f"/ {peak:.3g} |") and f"{run['final_part_returns']['il']:.3f}" in row
    assert f"{run['final_part_returns']['cl_random_steps']:.3f} ± 0.000 (" in row


def test_a_non_finite_loss_fails_the_run_not_the_grid(tmp_path, monkeypatch):
    import train

    real_build = train.build

    def failing_build(cfg):
        env, learner = real_build(cfg)

        def explode():
            raise NonFiniteLossError("td_loss", 3, float("nan"))

        learner.train_iteration = explode
        return env, learner

    monkeypatch.setattr(train, "build", failing_build)
    bench.main(tiny(tmp_path, "--methods", "il", "--pairing", "value"))
    (run,) = json.loads((tmp_path / "results.json").read_text())
    assert run["error"].startswith("loss 'td_loss' is nan at update 3; stopping before applying it")
    assert run["curve"] == [] and run["algo"] == "iql" and run["method"] == "il"


def _il_fails(spec):
    """execute, but every IL run fails."""
    if "__il__" in spec.name:
        return RunRecord(spec.name, "failed", error="loss 'x' is nan at update 1", env_steps=64)
    return execute(spec)


def test_failed_runs_are_kept_in_results_json_and_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(launchers, "execute", _il_fails)
    bench.main(tiny(tmp_path, "--pairing", "policy"))
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "il", "mansa"]
    assert (
        "- FAILED: Foraging-5x5-2p-1f-coop-v3 il seed 0 after 64 steps"
        in (tmp_path / "results.md").read_text()
    )


def test_a_finished_grid_is_not_trained_again_and_the_file_is_the_default(tmp_path, monkeypatch):
    bench.main(tiny(tmp_path, "--methods", "cl", "--pairing", "policy"))
    first = (tmp_path / "results.json").read_text()
    monkeypatch.setattr(launchers, "execute", None)  # would fail if any run were launched
    bench.main(tiny(tmp_path, "--methods", "cl", "--pairing", "policy"))
    assert (tmp_path / "results.json").read_text() == first
    grid = grid_from_dict(bench.grid_data(bench.main_parser().parse_args([])))
    assert [a.label for a in grid.algorithms] == ["mansa", "il", "cl"]
    assert grid.post_run.function == "benchmarks.mansa:evaluate_run"
    assert [(c.env.id, c.algo.label, c.seed) for c in grid.cells()][:2] == [
        ("Foraging-8x8-2p-2f-coop-v3", "mansa", 0),
        ("Foraging-8x8-2p-2f-coop-v3", "mansa", 1),
    ]
    mansa = grid.cells()[0].spec.overrides
    assert "algo.il=iql" in mansa and not any("cost" in o or "budget" in o for o in mansa)


def test_a_sub_learners_non_finite_loss_names_the_side():
    from toy_envs import CoordinationCore

    from algorithms.mansa import MANSAConfig, MANSALearner

    learner = MANSALearner(
        MANSAConfig(
            il_cfg={"net": {"hidden_size": 8}, "batch_size": 2, "env_steps_per_update": 4.0}
        ),
        CoordinationCore(2, length=5),
        "cpu",
        0,
    )

    def explode(*args):
        raise NonFiniteLossError("grad_norm", 5, float("inf"))

    learner.cl.update = explode
    with pytest.raises(NonFiniteLossError, match="loss 'cl/grad_norm' is inf at update 5"):
        learner.train_iteration()


def test_q_growth_reports_both_sides(tmp_path):
    from benchmarks.mansa_q_growth import q_growth

    points, error, final = q_growth(
        [
            "env.id=Foraging-5x5-2p-1f-coop-v3",
            "env.num_envs=4",
            "algo.rollout_length=10",
            "algo.il_cfg.batch_size=2",
            "algo.cl_cfg.batch_size=2",
            "algo.il_cfg.env_steps_per_update=8",
            "algo.cl_cfg.env_steps_per_update=8",
        ],
        400,
        200,
        evaluate_episodes=4,
        runs_dir=str(tmp_path),
    )
    assert error is None and [p["env_steps"] for p in points] == [200, 400]
    assert all(p["cl"] is not None and p["il"] is not None for p in points)
    assert set(final["final"]) == {"mansa", "il", "cl"} and 0.0 <= final["train_cl_fraction"] <= 1.0


def test_call_fraction_counts_only_the_evaluated_episodes_steps():
    """One call at each episode's first step: the share is episodes / steps of those episodes, even
    though copies whose episode ended early (a success) play on, without calls, until all end."""
    from toy_envs import CoordinationCore

    from algorithms.mansa import SwitchMemory

    rng = np.random.default_rng(0)

    def first_step_caller(obs, mask, state, hidden):
        left = np.ones(len(obs), dtype=np.int64) if hidden is None else hidden.calls_left
        cl = left > 0
        actions = np.where(
            rng.random((len(obs), 2)) < 0.3, obs.argmax(-1), 0
        )  # succeeds now and then
        return actions, SwitchMemory(left - cl, cl)

    results, fraction = bench.evaluate_calls(
        first_step_caller,
        lambda b: CoordinationCore(b, length=8, terminate_on_success=True),
        episodes=12,
        seed=3,
        needs_state=True,
    )
    lengths = results["length"]
    assert min(lengths) < max(lengths)  # some copies finished early and played on
    assert fraction == pytest.approx(12 / sum(lengths))


def test_random_step_controls_call_within_the_budget_and_play_valid_actions():
    from toy_envs import CoordinationCore

    from algorithms.mansa import MANSAConfig, MANSALearner

    learner = MANSALearner(
        MANSAConfig(
            budget=2, il_cfg={"net": {"hidden_size": 8}}, cl_cfg={"net": {"hidden_size": 8}}
        ),
        CoordinationCore(2, masked=True, length=5),
        "cpu",
        0,
    )
    env = CoordinationCore(16, masked=True, length=5)
    obs, _ = env.reset(seed=0)
    mask, state = env.action_mask(), env.state()
    players = bench.random_step_players(learner, rate=1.0, seed=0)
    il = learner.il.greedy(obs, mask, state, True)[0]
    for player in players.values():
        hidden, made = None, []
        for _ in range(
            4
        ):  # rate 1: the first two steps of every copy call, then the budget is spent
            actions, hidden = player(obs, mask, state, hidden)
            made.append(hidden.cl.copy())
            assert mask[np.arange(16)[:, None], np.arange(2), actions].all()
        assert np.array_equal(np.array(made).sum(0), np.full(16, 2)) and not made[2].any()
    actions, _ = players["cl_random_steps"](obs, mask, state, None)
    assert np.array_equal(actions, learner.cl.greedy(obs, mask, state, True)[0])
    never = bench.random_step_players(learner, rate=0.0, seed=0)["random_random_steps"]
    actions, hidden = never(obs, mask, state, None)
    assert np.array_equal(actions, il) and not hidden.cl.any()


def test_stalled_step_control_calls_cl_only_on_repeated_observations_within_the_budget():
    from toy_envs import CoordinationCore

    from algorithms.mansa import MANSAConfig, MANSALearner

    learner = MANSALearner(
        MANSAConfig(
            budget=2, il_cfg={"net": {"hidden_size": 8}}, cl_cfg={"net": {"hidden_size": 8}}
        ),
        CoordinationCore(2, length=5),
        "cpu",
        0,
    )
    env = CoordinationCore(8, length=5)
    obs, _ = env.reset(seed=0)
    mask, state = env.action_mask(), env.state()
    changed = obs.copy()
    changed[:4] = 1.0 - changed[:4]  # copies 0-3 see something new at the second step
    player = bench.stalled_step_player(learner)
    made = []
    hidden = None
    for step_obs in (obs, changed, changed, changed, changed):
        actions, hidden = player(step_obs, mask, state, hidden)
        made.append(hidden.cl.copy())
        for rows, side in ((hidden.cl, learner.cl), (~hidden.cl, learner.il)):
            if rows.any():
                assert np.array_equal(
                    actions[rows], side.greedy(step_obs[rows], mask[rows], state[rows], True)[0]
                )
    made = np.array(made)
    assert not made[0].any()  # an episode's first step never repeats
    assert not made[1, :4].any() and made[1, 4:].all()  # changed / repeated
    assert (
        made[2].all() and made[3, :4].all() and not made[3, 4:].any()
    )  # copies 4-7 spent their 2 calls
    assert not made[4].any()
    assert np.array_equal(made.sum(0), np.full(8, 2))


def test_target_check_covers_the_sampled_switcher():
    def run(method, final, **extra):
        return {
            "env": "E",
            "method": method,
            "seed": 0,
            "algo": method,
            "env_steps": 100,
            "overrides": [],
            "final_greedy_return": final,
            "curve": [],
            "train_seconds": 1.0,
            **extra,
        }

    timers = dict.fromkeys(("il_act", "cl_act", "il_update", "cl_update"), 1.0)
    mansa = run(
        "mansa",
        0.70,
        train_cl_fraction=0.03,
        eval_cl_fraction=0.0,
        timers=timers,
        final_sampled_switcher_return=0.93,
        eval_sampled_cl_fraction=0.06,
    )
    table = bench.summarise([run("il", 0.70), run("cl", 0.95), mansa])
    assert (
        "- E, greedy switcher: final return 0.700 vs max(IL, CL) - 0.05 = 0.900: NOT met" in table
    )
    assert "; CL calls in training 3.00% (target <= 5%): met; at evaluation 0.00%: met" in table
    assert (
        "- E, sampled switcher: final return 0.930 vs 0.900: met; CL calls at evaluation 6.00%: NOT met"
        in table
    )


def test_switch_learn_grid_reports_update_share_and_trains_the_control(tmp_path):
    from benchmarks import mansa_summary

    bench.main(tiny(tmp_path, "--mansa-set", "switch=learn", "--control-rate", "0.1"))
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "control", "il", "mansa"]
    (mansa,) = [r for r in runs if r["method"] == "mansa"]
    (control,) = [r for r in runs if r["method"] == "control"]
    assert mansa["switch"] == "learn" and 0.0 <= mansa["train_cl_update_share"] <= 1.0
    assert mansa["eval_cl_fraction"] == 0.0  # IL's agents act at evaluation
    assert 0.0 <= mansa["cl_time_share"] <= 1.0 and "cl_update" in mansa["timers"]
    assert "algo.switcher.mode=random" in control["overrides"]
    assert "algo.switch=learn" in control["overrides"]
    (row,) = mansa_summary.summary([str(tmp_path)])
    assert row["switch"] == "learn" and row["seeds"][0]["control_return"] is not None
    assert row["target_met"] in (True, False)


def test_calls_with_other_methods_into_one_folder_add_up(tmp_path):
    bench.main(tiny(tmp_path, "--pairing", "policy", "--methods", "mansa"))
    bench.main(tiny(tmp_path, "--pairing", "policy", "--methods", "il", "cl"))
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "il", "mansa"]
    bench.main(tiny(tmp_path, "--pairing", "policy", "--methods", "il"))  # finished: not repeated
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "il", "mansa"]
    assert "| mansa |" in (tmp_path / "results.md").read_text()


def test_a_rerun_from_another_directory_replaces_its_runs_records(tmp_path):
    """results.json's run paths are relative to where the command ran: one run, one record."""
    old = [{"run_dir": "../main/runs/x/task__il__seed5__ab", "method": "il", "old": True}]
    (tmp_path / "results.json").write_text(json.dumps(old))
    new = [{"run_dir": "runs/x/task__il__seed5__ab", "method": "il"}]
    other = [{"run_dir": "runs/x/task__cl__seed5__cd", "method": "cl"}]
    assert bench.merged(str(tmp_path / "results.json"), new + other) == new + other


@pytest.mark.parametrize(
    ("path", "env", "args"),
    [
        (
            "configs/mansa_foraging_2s_8x8_2p_2f_coop.yaml",
            "Foraging-2s-8x8-2p-2f-coop-v3",
            ["--pairing", "value"],
        ),
        (
            "configs/mansa_ppo_learn_foraging_2s_8x8_2p_2f_coop.yaml",
            "Foraging-2s-8x8-2p-2f-coop-v3",
            ["--pairing", "policy", "--mansa-set", "switch=learn", "cost=0.01", "budget=2"]
            + ["rollout_length=32"],
        ),
        (
            "configs/mansa_gru_foraging_2s_8x8_2p_3f_coop.yaml",
            "Foraging-2s-8x8-2p-3f-coop-v3",
            ["--pairing", "value", "--mansa-set", "transfer_weight=1.0"]
            + ["--il-set", "net.recurrent=true", "--cl-set", "net.recurrent=true"],
        ),
        (
            "configs/mansa_gru_foraging_2s_8x8_2p_2f_coop.yaml",
            "Foraging-2s-8x8-2p-2f-coop-v3",
            ["--pairing", "value", "--mansa-set", "transfer_weight=1.0"]
            + ["--il-set", "net.recurrent=true", "--cl-set", "net.recurrent=true"],
        ),
    ],
)
def test_a_shipped_decision_config_is_what_its_benchmark_trains(path, env, args):
    """Issue 19: "a shipped config is the exact configuration benchmarked". The config file
    and the benchmark's MANSA cell (its README's command) resolve to the same training config,
    seed, output paths and the progress bar aside."""
    import os

    from train import load_config

    command = ["--envs", env, "--env-steps", "2000000"]
    command += ["--eval-every", "250000", "--methods", "mansa", *args]
    grid = grid_from_dict(bench.grid_data(bench.main_parser().parse_args(command)))
    spec = grid.cells()[0].spec
    aside = ["seed=0", "log.dir=x", "run_name=x", "log.progress=false"]
    benchmarked = load_config(spec.config_file, [*spec.overrides, *aside])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shipped = load_config(os.path.join(root, path), aside)
    assert shipped == benchmarked
