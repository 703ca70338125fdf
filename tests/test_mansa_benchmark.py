"""benchmarks/mansa.py: a tiny grid end to end, and a run whose loss turns NaN is recorded, not fatal."""

import json

import pytest

from algorithms import NonFiniteLossError
from benchmarks import mansa as bench

TINY = ["--envs", "Foraging-5x5-2p-1f-coop-v3", "--seeds", "0", "--num-envs", "4", "--env-steps", "256",
        "--eval-every", "128", "--eval-episodes", "4", "--curve-episodes", "2", "--jobs", "1"]


def test_tiny_grid_writes_table_target_and_plots(tmp_path):
    bench.main([*TINY, "--pairing", "policy", "--out", str(tmp_path)])
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "il", "mansa"]
    assert all(r["env_steps"] >= 256 and len(r["curve"]) >= 1 for r in runs)
    table = (tmp_path / "results.md").read_text()
    assert "Target (issue 8)" in table and "CL calls" in table
    assert {p.name for p in tmp_path.glob("*.png")} == {f"5x5-2p-1f-coop_{k}.png" for k in ("curves", "cl_steps", "cl_grid")}


def test_value_grid_reports_mansas_parts_and_q_peaks(tmp_path):
    small = ["batch_size=2", "env_steps_per_update=8"]
    bench.main([*TINY, "--methods", "mansa", "--pairing", "value", "--il-set", *small, "--cl-set", *small,
                "--env-steps", "512", "--eval-every", "256", "--out", str(tmp_path)])  # updates start once 2 episodes end
    (run,) = json.loads((tmp_path / "results.json").read_text())
    assert set(run["final_part_returns"]) == {"il", "cl"} and 0.0 <= run["eval_sampled_cl_fraction"] <= 1.0
    assert all(p["cl_q_taken_max"] is not None and p["il_q_taken_max"] is not None for p in run["curve"])
    table = (tmp_path / "results.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| Foraging-5x5-2p-1f-coop-v3 | 1 |"))
    peak = max(p["cl_q_taken_max"] for p in run["curve"])
    assert row.endswith(f"/ {peak:.3g} |") and f"{run['final_part_returns']['il']:.3f}" in row


def test_a_non_finite_loss_fails_the_run_not_the_grid(monkeypatch):
    import train

    real_build = train.build

    def failing_build(cfg):
        env, learner = real_build(cfg)

        def explode():
            raise NonFiniteLossError("td_loss", 3, float("nan"))

        learner.train_iteration = explode
        return env, learner

    monkeypatch.setattr(train, "build", failing_build)
    job = {"env": "Foraging-5x5-2p-1f-coop-v3", "method": "il", "seed": 0, "pairing": "value", "num_envs": 2,
           "env_steps": 100, "eval_episodes": 2, "eval_every": 0, "curve_episodes": 2,
           "mansa_set": [], "il_set": [], "cl_set": []}
    run = bench.run_one(job)
    assert run["error"] == "loss 'td_loss' is nan at update 3; stopping before applying it"
    assert run["curve"] == [] and run["algo"] == "iql"


def _il_fails(job):
    """run_one, but every IL run fails (module level: the worker process unpickles it by name)."""
    if job["method"] == "il":
        return {**{k: job[k] for k in ("env", "method", "seed", "num_envs", "pairing")}, "algo": "ippo",
                "overrides": [], "env_steps": 64, "error": "loss 'x' is nan at update 1", "curve": []}
    return REAL_RUN_ONE(job)


REAL_RUN_ONE = bench.run_one


def test_failed_runs_are_kept_in_results_json_and_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "run_one", _il_fails)
    bench.main([*TINY, "--pairing", "policy", "--out", str(tmp_path)])
    runs = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["method"] for r in runs) == ["cl", "il", "mansa"]
    assert "- FAILED: Foraging-5x5-2p-1f-coop-v3 il seed 0 after 64 steps" in (tmp_path / "results.md").read_text()


def test_a_sub_learners_non_finite_loss_names_the_side():
    from toy_envs import CoordinationCore

    from algorithms.mansa import MANSAConfig, MANSALearner

    learner = MANSALearner(MANSAConfig(il_cfg={"hidden_size": 8, "batch_size": 2, "env_steps_per_update": 4.0}),
                           CoordinationCore(2, length=5), "cpu", 0)

    def explode(*args):
        raise NonFiniteLossError("grad_norm", 5, float("inf"))

    learner.cl.update = explode
    with pytest.raises(NonFiniteLossError, match="loss 'cl/grad_norm' is inf at update 5"):
        learner.train_iteration()


def test_q_growth_reports_both_sides():
    from benchmarks.mansa_q_growth import q_growth

    points, error, final = q_growth(["env.id=Foraging-5x5-2p-1f-coop-v3", "env.num_envs=4", "algo.il_cfg.batch_size=2",
                              "algo.cl_cfg.batch_size=2", "algo.il_cfg.env_steps_per_update=8",
                              "algo.cl_cfg.env_steps_per_update=8"], 400, 200, evaluate_episodes=4)
    assert error is None and [p["env_steps"] for p in points] == [200, 400]
    assert all(p["cl"] is not None and p["il"] is not None for p in points)
    assert set(final["final"]) == {"mansa", "il", "cl"} and 0.0 <= final["train_cl_fraction"] <= 1.0
