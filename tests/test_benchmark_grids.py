"""The benchmarks that train run grid files through the launchers, then read the run directories.

Tiny runs (a few hundred env steps, in this process with ``--launcher serial``): the value-based
benchmark with its post-run final evaluation, and the donor and routing learning benchmarks
(env entries with labels, kwargs and their own config files, a subset of the grid's cells).
"""

import json

import pytest

from benchmarks import donor_learning, routing_learning, value_based
from benchmarks.grid import grid_from_dict
from benchmarks.run_dirs import FINAL_FILE, read_json

TINY = [
    "total_env_steps=64",
    "env.num_envs=2",
    "algo.rollout_length=32",
    "eval.every_env_steps=0",
    "eval.episodes=1",
    "eval.absolute_episodes=1",
]


def test_value_benchmark_runs_its_grid_and_evaluates_each_final_policy(tmp_path, capsys):
    args = [
        *("--algos", "iql", "qmix", "--envs", "Foraging-5x5-2p-1f-coop-v3", "--seeds", "0"),
        *("--num-envs", "4", "--env-steps", "400", "--eval-every", "200"),
        *("--eval-episodes", "4", "--curve-episodes", "2", "--set", "batch_size=2"),
        *("--launcher", "serial", "--out", str(tmp_path / "out")),
        *("--runs-dir", str(tmp_path / "runs")),
    ]
    value_based.main(args)
    runs = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["algo"], r["overrides"]) for r in runs] == [
        ("iql", {"batch_size": 2}),
        ("qmix", {"batch_size": 2}),
    ]
    for run in runs:
        assert [p["env_steps"] for p in run["curve"]] == [200, 400]
        final = read_json(run["run_dir"], FINAL_FILE)
        assert final["episodes"] == 4 and run["final_greedy_return"] == final["greedy_return"]
        assert run["env_steps"] == 400 and run["gradient_updates"] > 0 and run["sps"] > 0
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| Foraging-5x5-2p-1f-coop-v3 | qmix | batch_size=2 | 1 |" in table
    capsys.readouterr()
    value_based.main(args)  # a finished grid is read back, not trained again
    assert "2 runs, 2 finished before, 0 to run" in capsys.readouterr().out


def test_the_committed_value_grid_is_the_issues(tmp_path):
    args = value_based.main_parser().parse_args([])
    grid = grid_from_dict(value_based.grid_data(args, {}))
    assert [a.name for a in grid.algorithms] == list(value_based.ALGOS) and grid.seeds == [0, 1, 2]
    assert grid.post_run.function == "benchmarks.run_dirs:evaluate_final"


def test_donor_benchmark_runs_the_chosen_conditions(tmp_path, capsys):
    donor_learning.main(
        [
            *("--conditions", "stern_hidden", "--extra", *TINY, "--reference-episodes", "1"),
            *("--launcher", "serial", "--log-dir", str(tmp_path)),
        ]
    )
    out = capsys.readouterr().out
    assert "| ippo-stern_hidden | 1 |" in out and "ALLC stern_hidden" in out
    assert "stern_visible" not in out
    (config,) = tmp_path.glob("stern_hidden__ippo__seed0__*/config.yaml")
    assert "observe_reputation: false" in config.read_text()


def test_routing_benchmark_takes_each_networks_config(tmp_path, capsys):
    routing_learning.main(
        [
            *("--conditions", "braess_altruistic", "--extra", *TINY),
            *("--days", "3", "--tail", "1", "--copies", "1"),
            *("--launcher", "serial", "--log-dir", str(tmp_path)),
        ]
    )
    out = capsys.readouterr().out
    assert "| braess_altruistic | 0 | greedy |" in out and "braess random routes" in out
    assert "selfish" not in out and "siouxfalls" not in out
    (config,) = tmp_path.glob("braess__altruistic__seed0__*/config.yaml")
    text = config.read_text()
    assert "reward: altruistic" in text and "share_parameters: false" in text


def test_a_learning_grid_refuses_an_unknown_condition():
    with pytest.raises(SystemExit):
        routing_learning.main(["--conditions", "braess_greedy"])


def test_train_speed_measures_through_public_apis_and_the_launchers(tmp_path):
    from benchmarks import train_speed

    small = ["env.num_envs=4", "algo.rollout_length=16"]
    speed = train_speed.throughput(0.3, small)
    assert speed["frames"] > 0 and speed["collect_frames_per_s"] > speed["env_frames_per_s"] > 0
    args = train_speed.main_parser().parse_args(
        [*small, "--max-steps", "128", "--solve-seeds", "0", "--launcher", "serial"]
    )
    (row,) = train_speed.time_to_solve(args, str(tmp_path))
    assert row["seed"] == 0 and not row["solved"] and row["env_steps"] == 128


def test_donor_seeded_benchmark_starts_each_alone_run_from_its_seeded_run(tmp_path, capsys):
    from benchmarks import donor_seeded

    tiny = ["env.num_envs=2", "algo.rollout_length=12", "eval.every_env_steps=24"]
    donor_seeded.main(
        [
            *("--conditions", "stern_visible", "--seeds", "0", "--steps", "48"),
            *("--extra", *tiny, "--launcher", "serial", "--log-dir", str(tmp_path)),
        ]
    )
    out = capsys.readouterr().out
    assert "| stern_visible | 1 |" in out and "stern_hidden" not in out
    (seeded,) = tmp_path.glob("seeded/stern_visible__ippo__seed0__*")
    (alone,) = tmp_path.glob("alone/stern_visible__ippo__seed0__*/config.yaml")
    (control,) = tmp_path.glob("control/stern_visible__ippo__seed0__*/config.yaml")
    assert "seeded_discriminators: 4" in (seeded / "config.yaml").read_text()
    text = alone.read_text()
    assert "seeded_discriminators: 0" in text and f"init_policy: {seeded}" in text
    assert (
        "total_env_steps: 96" in control.read_text() and "init_policy: null" in control.read_text()
    )


def test_donor_seeded_norms_grid_saves_to_its_folder_with_targets_by_label(tmp_path, capsys):
    import yaml

    from benchmarks import donor_seeded

    root = donor_seeded.ROOT / "benchmarks"
    base = yaml.safe_load((root / "donor_seeded.yaml").read_text())
    for other in ("donor_seeded_norms.yaml", "donor_seeded_punish.yaml"):
        grid = yaml.safe_load((root / other).read_text())
        for key in ("overrides", "algorithms", "config", "seeds"):
            assert grid[key] == base[key], (other, key)
    tiny = ["env.num_envs=2", "algo.rollout_length=12", "eval.every_env_steps=24"]
    out = tmp_path / "out"
    donor_seeded.main(
        [
            *("--grid", str(root / "donor_seeded_norms.yaml"), "--seeds", "0", "--steps", "48"),
            *("--conditions", "shunning_visible", "shunning_hidden", "--extra", *tiny),
            *(
                "--launcher",
                "serial",
                "--log-dir",
                str(tmp_path / "runs"),
                "--save",
                "--out",
                str(out),
            ),
        ]
    )
    table = (out / "results.md").read_text()
    assert "| shunning_visible | 1 |" in table and "| shunning_hidden | 1 |" in table
    visible, hidden = (
        next(x for x in table.splitlines() if f"| {c} |" in x)
        for c in ("shunning_visible", "shunning_hidden")
    )
    assert ">= 0.8" in visible and "<= 0.3" in hidden
    assert set(json.loads((out / "results.json").read_text())["figures"]) == {
        "shunning_visible",
        "shunning_hidden",
    }
