"""The leaderboard: grids, launchers (process pool, Ray, in process), failures, resuming, the report."""

import json
import os

import numpy as np
import pytest
from leaderboard_workers import die_or_finish

from algorithms.runs.rundir import BEST_POLICY_FILE
from benchmarks.grid import grid_from_dict, run_grid
from benchmarks.launchers import (
    STATUS_FILE,
    ProcessPoolLauncher,
    RayLauncher,
    RunRecord,
    RunSpec,
    SerialLauncher,
    execute,
    materialise,
)
from benchmarks.leaderboard import copy_into_readme, main, write_report
from benchmarks.scores import mean_confidence_interval

TASK = "Foraging-5x5-2p-1f-coop-v3"
TINY = [
    "total_env_steps=256",
    "env.num_envs=4",
    "algo.rollout_length=32",
    "eval.episodes=4",
    "eval.absolute_episodes=8",
    "eval.every_env_steps=128",
    "checkpoint.every_updates=1",
    "log.tensorboard=false",
]


def tiny_grid(tmp_path, **extra):
    data = {
        "name": "tiny",
        "envs": [TASK],
        "algorithms": ["ippo"],
        "seeds": [0, 1],
        "overrides": TINY,
        "runs_dir": str(tmp_path / "runs"),
        "out": str(tmp_path / "out"),
        "reps": 500,
        "render": {"max_steps": 5},
    }
    data.update(extra)
    return grid_from_dict(data)


def read(path):
    with open(path) as f:
        return f.read()


# ---------------------------------------------------------------------- the grid
def test_grid_file_errors_name_the_key():
    with pytest.raises(ValueError, match="did you mean 'algorithms'"):
        grid_from_dict({"envs": [TASK], "algorithm": ["ippo"]})
    with pytest.raises(ValueError, match="'algorithms' is required"):
        grid_from_dict({"envs": [TASK]})
    with pytest.raises(ValueError, match="ippo more than once"):
        grid_from_dict(
            {
                "envs": [TASK],
                "algorithms": ["ippo", {"name": "ippo", "overrides": {"algo.lr": 0.1}}],
            }
        )
    with pytest.raises((ValueError, TypeError), match="seeds"):
        grid_from_dict({"envs": [TASK], "algorithms": ["ippo"], "seeds": "three"})
    with pytest.raises(ValueError, match="did you mean 'kwargs'"):
        grid_from_dict({"envs": [{"id": TASK, "kwarg": {}}], "algorithms": ["ippo"]})
    with pytest.raises(ValueError, match="score"):
        grid_from_dict({"envs": [TASK], "algorithms": ["ippo"], "score": "best"})


def test_cells_carry_train_overrides_and_a_config_hash(tmp_path):
    grid = grid_from_dict(
        {
            "envs": [{"id": "donor-v0", "kwargs": {"num_agents": 4, "norm": "stern_judging"}}],
            "algorithms": [
                "ippo",
                {"name": "mappo", "label": "mappo-fast", "overrides": {"algo.lr": 0.01}},
            ],
            "seeds": 2,
            "overrides": {"total_env_steps": 1000},
            "runs_dir": str(tmp_path),
        }
    )
    cells = grid.cells()
    assert [(c.algo.label, c.seed) for c in cells] == [
        ("ippo", 0),
        ("ippo", 1),
        ("mappo-fast", 0),
        ("mappo-fast", 1),
    ]
    overrides = cells[2].spec.overrides
    for item in (
        "total_env_steps=1000",
        "algo.lr=0.01",
        "env.id=donor-v0",
        "env.kwargs.num_agents=4",
        "env.kwargs.norm=stern_judging",
        "algo=mappo",
        "seed=0",
        f"log.dir={tmp_path}",
    ):
        assert item in overrides
    assert cells[2].env.label == "donor/v0[norm=stern_judging,num_agents=4]"
    assert len({c.spec.name for c in cells}) == 4
    again = grid_from_dict(
        {
            "envs": [{"id": "donor-v0", "kwargs": {"num_agents": 4, "norm": "stern_judging"}}],
            "algorithms": ["ippo"],
            "seeds": 1,
            "overrides": {"total_env_steps": 1000},
            "runs_dir": str(tmp_path / "elsewhere"),
        }
    ).cells()[0]
    assert (
        again.spec.name == cells[0].spec.name
    )  # the name depends on the config, not on where runs go
    changed = grid_from_dict(
        {
            "envs": [{"id": "donor-v0", "kwargs": {"num_agents": 4, "norm": "stern_judging"}}],
            "algorithms": ["ippo"],
            "seeds": 1,
            "overrides": {"total_env_steps": 2000},
        }
    ).cells()[0]
    assert changed.spec.name != cells[0].spec.name


# ---------------------------------------------------------------------- launchers
def test_process_pool_and_ray_write_the_same_results(tmp_path):
    pool_grid = tiny_grid(tmp_path / "pool")
    rows = run_grid(pool_grid, ProcessPoolLauncher(jobs=2), log=lambda _: None)
    assert [r.record.status for r in rows] == ["finished", "finished"]
    write_report(pool_grid, rows)
    results = json.loads(read(os.path.join(pool_grid.out, "results.json")))
    runs = results["Foraging"]["5x5-2p-1f-coop-v3"]["ippo"]
    assert sorted(runs) == ["seed_0", "seed_1"]
    assert [runs["seed_0"][f"step_{k}"]["step_count"] for k in range(3)] == [0, 128, 256]
    assert len(runs["seed_0"]["absolute_metrics"]["return"]) == 8
    for name in (
        "leaderboard.md",
        "leaderboard.html",
        "plots/Foraging_5x5-2p-1f-coop-v3.png",
        "gifs/Foraging_5x5-2p-1f-coop-v3.gif",
    ):
        assert os.path.getsize(os.path.join(pool_grid.out, name)) > 0

    pytest.importorskip("ray", reason="the Ray launcher needs the optional ray extra")
    ray_grid = tiny_grid(tmp_path / "ray")
    rows = run_grid(ray_grid, RayLauncher(jobs=2), log=lambda _: None)
    assert [r.record.status for r in rows] == ["finished", "finished"]
    write_report(ray_grid, rows, gifs=False)
    assert read(os.path.join(ray_grid.out, "results.json")) == read(
        os.path.join(pool_grid.out, "results.json")
    )


def test_a_worker_that_dies_fails_only_its_own_run(tmp_path):
    specs = [RunSpec(name, str(tmp_path / name), ()) for name in ("ok-a", "die", "ok-b")]
    records = {}
    ProcessPoolLauncher(jobs=2, target=die_or_finish).run(
        specs, lambda r: records.setdefault(r.name, r)
    )
    assert {n: r.status for n, r in records.items()} == {
        "ok-a": "finished",
        "die": "failed",
        "ok-b": "finished",
    }
    assert "worker process died" in records["die"].error


def test_a_failing_run_is_reported_and_the_rest_go_on(tmp_path):
    grid = tiny_grid(tmp_path, envs=[{"id": TASK, "kwargs": {"bogus_knob": 1}}, TASK], seeds=[0])
    rows = run_grid(grid, SerialLauncher(), log=lambda _: None)
    assert [r.record.status for r in rows] == ["failed", "finished"]
    assert "bogus_knob" in rows[0].record.error
    write_report(grid, rows, gifs=False)
    report = read(os.path.join(grid.out, "leaderboard.md"))
    assert "Runs that did not finish" in report and "bogus_knob" in report
    failed_task = report.split("### Foraging/5x5-2p-1f-coop-v3[bogus_knob=1]")[1]
    assert (
        failed_task.split("###")[0].count("| ippo | 0 | no run finished | no run finished |") == 1
    )
    statuses = {
        r["name"]: r["status"] for r in json.loads(read(os.path.join(grid.out, "runs.json")))
    }
    assert sorted(statuses.values()) == ["failed", "finished"]
    results = json.loads(read(os.path.join(grid.out, "results.json")))
    assert list(results["Foraging"]) == ["5x5-2p-1f-coop-v3"]  # only the finished run


class InterruptAfterFirst(SerialLauncher):
    def run(self, specs, on_result):
        on_result(execute(specs[0]))
        raise KeyboardInterrupt


class Recording(SerialLauncher):
    def __init__(self):
        self.ran = []

    def run(self, specs, on_result):
        self.ran += [s.name for s in specs]
        super().run(specs, on_result)


def test_an_interrupted_grid_resumes_without_redoing_finished_runs(tmp_path):
    import train

    grid = tiny_grid(tmp_path)
    first, second = grid.cells()
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, InterruptAfterFirst(), log=lambda _: None)
    statuses = [r["status"] for r in json.loads(read(os.path.join(grid.out, "runs.json")))]
    assert statuses == ["finished", "not run"]
    finished_eval = os.path.join(first.spec.run_dir, "eval.json")
    stamp = os.stat(finished_eval).st_mtime_ns

    # the second run was stopped during its second update, as a second Ctrl-C would: the
    # checkpoint of update 1 is on disk, no status file
    def stop(learner, metrics):
        if learner.updates == 2:
            raise KeyboardInterrupt

    cfg = train.load_config(None, second.spec.overrides)
    assert train.train(cfg, on_update=stop).status == "interrupted"
    assert not os.path.exists(os.path.join(second.spec.run_dir, STATUS_FILE))
    metrics = os.path.join(second.spec.run_dir, "metrics.jsonl")
    # lines up to update 1 hold wall-clock speeds: had update 1 been redone, they would differ
    before = [line for line in read(metrics).splitlines() if json.loads(line)["update"] <= 1]

    launcher = Recording()
    rows = run_grid(grid, launcher, log=lambda _: None)
    assert launcher.ran == [second.spec.name]
    assert [(r.skipped, r.record.status) for r in rows] == [(True, "finished"), (False, "finished")]
    assert os.stat(finished_eval).st_mtime_ns == stamp
    after = read(metrics).splitlines()
    assert (
        after[: len(before)] == before
    )  # resumed from the checkpoint of update 1, not started over
    assert [json.loads(line)["update"] for line in after] == [
        json.loads(line)["update"]
        for line in read(os.path.join(first.spec.run_dir, "metrics.jsonl")).splitlines()
    ]
    assert Recording().ran == [] and run_grid(grid, Recording(), log=lambda _: None)[1].skipped


def test_a_remote_worker_ships_the_run_files_back(tmp_path):
    cell = tiny_grid(tmp_path, seeds=[0]).cells()[0]
    remote = RunSpec(
        cell.spec.name,
        cell.spec.run_dir,
        cell.spec.overrides,
        None,
        cell.spec.config_hash,
        driver_host="a-driver-elsewhere",
    )
    record = execute(remote)
    assert record.status == "finished"
    assert not os.path.exists(
        cell.spec.run_dir
    )  # trained in a scratch directory on the "remote" host
    assert {"eval.json", "config.yaml", "policy_best.pt", STATUS_FILE} <= set(record.files)
    materialise(record, cell.spec)
    status = json.loads(read(os.path.join(cell.spec.run_dir, STATUS_FILE)))
    assert status["status"] == "finished" and status["config_hash"] == cell.spec.config_hash
    rows = run_grid(tiny_grid(tmp_path, seeds=[0]), None, log=lambda _: None)
    assert rows[0].skipped


@pytest.mark.parametrize("accumulate", [False, True])
def test_runs_json_keeps_other_invocations_runs_only_when_accumulating(tmp_path, accumulate):
    def names():
        with open(tmp_path / "out" / "runs.json") as f:
            return [r["name"] for r in json.load(f)]

    first, second = (tiny_grid(tmp_path, seeds=[s]) for s in (0, 1))
    run_grid(first, None, log=lambda _: None, accumulate=accumulate)
    run_grid(second, None, log=lambda _: None, accumulate=accumulate)
    ours = [second.cells()[0].spec.name]
    assert names() == ([first.cells()[0].spec.name, *ours] if accumulate else ours)
    run_grid(second, None, log=lambda _: None, accumulate=accumulate)  # no duplicate entry
    assert names().count(ours[0]) == 1


def test_two_invocations_at_once_keep_each_others_runs_json_entries(tmp_path):
    first, second = (tiny_grid(tmp_path, seeds=[s]) for s in (0, 1))

    class FirstEndsMeanwhile(SerialLauncher):  # the first invocation ends while this one runs
        def run(self, specs, on_result):
            run_grid(first, None, log=lambda _: None, accumulate=True)
            on_result(RunRecord(specs[0].name, "failed", error="stopped"))

    run_grid(second, FirstEndsMeanwhile(), log=lambda _: None, accumulate=True)
    entries = json.loads(read(os.path.join(second.out, "runs.json")))
    assert [r["name"] for r in entries] == [
        first.cells()[0].spec.name,
        second.cells()[0].spec.name,
    ]


def test_env_entries_take_a_label_and_a_config_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("total_env_steps: 512\n")
    grid = grid_from_dict(
        {
            "envs": [
                {"id": TASK, "label": "plain"},
                {"id": TASK, "label": "other", "config": str(config), "kwargs": {"sight": 1}},
            ],
            "algorithms": ["ippo"],
            "seeds": 1,
            "runs_dir": str(tmp_path),
        }
    )
    plain, other = grid.cells()
    assert (plain.env.label, other.env.label) == ("plain", "other")
    assert plain.spec.config_file is None and other.spec.config_file == str(config)
    assert plain.spec.name.startswith("plain__ippo__seed0__")
    with pytest.raises(ValueError, match="env plain more than once"):
        grid_from_dict(
            {"envs": [{"id": TASK, "label": "plain"}] * 2, "algorithms": ["ippo"], "seeds": 1}
        )


def test_a_post_run_hook_writes_into_the_run_and_ships_back(tmp_path):
    grid = tiny_grid(
        tmp_path,
        seeds=[0],
        post_run={"function": "leaderboard_workers:note_steps", "kwargs": {"tag": "x"}},
    )
    (cell,) = grid.cells()
    remote = RunSpec(
        cell.spec.name,
        cell.spec.run_dir,
        cell.spec.overrides,
        post_run=cell.spec.post_run,
        driver_host="a-driver-elsewhere",
    )
    record = execute(remote)
    assert record.status == "finished" and "note.json" in record.files
    assert not any(name.startswith("events.out") for name in record.files)
    rows = run_grid(grid, SerialLauncher(), log=lambda _: None)
    note = json.loads(read(os.path.join(cell.spec.run_dir, "note.json")))
    assert rows[0].record.status == "finished" and note == {"tag": "x", "eval": True}
    failing = tiny_grid(tmp_path / "f", seeds=[0], post_run="leaderboard_workers:missing")
    (row,) = run_grid(failing, SerialLauncher(), log=lambda _: None)
    assert row.record.status == "failed" and "missing" in row.record.error
    assert not os.path.exists(os.path.join(row.cell.spec.run_dir, STATUS_FILE))


# ---------------------------------------------------------------------- the report
def _fake_run(cell, step_returns, absolute, kept_best=False):
    """A finished run's directory with hand-chosen evaluation returns (and a best policy file)."""
    os.makedirs(cell.spec.run_dir)
    if kept_best:
        open(os.path.join(cell.spec.run_dir, BEST_POLICY_FILE), "w").close()
    run = {f"step_{k}": {"step_count": 100 * k, "return": r} for k, r in enumerate(step_returns)}
    run["absolute_metrics"] = {"return": absolute}
    env_name, task_name = cell.env.names
    with open(os.path.join(cell.spec.run_dir, "eval.json"), "w") as f:
        json.dump({env_name: {task_name: {cell.algo.name: {f"seed_{cell.seed}": run}}}}, f)
    with open(os.path.join(cell.spec.run_dir, STATUS_FILE), "w") as f:
        json.dump({"status": "finished", "config_hash": cell.spec.config_hash, "env_steps": 200}, f)


def test_report_statistics_match_hand_computed_values(tmp_path):
    import yaml

    data = {
        "name": "hand",
        "envs": [TASK, "donor-v0"],
        "algorithms": ["ippo", "iql"],
        "seeds": [0, 1],
        "runs_dir": str(tmp_path / "runs"),
        "out": str(tmp_path / "out"),
        "reps": 2000,
    }
    grid = grid_from_dict(data)
    # absolute-metric scores: foraging ippo 0.2, 0.4 and iql 0.6, 1.0 (bounds 0..1 from the steps);
    # donor ippo 10, 20 and iql 30, 50 (bounds 0..50): normalised, both tasks give the same numbers
    scores = {
        (TASK, "ippo"): [0.2, 0.4],
        (TASK, "iql"): [0.6, 1.0],
        ("donor-v0", "ippo"): [10.0, 20.0],
        ("donor-v0", "iql"): [30.0, 50.0],
    }
    top = {TASK: 1.0, "donor-v0": 50.0}
    for cell in grid.cells():
        value = scores[(cell.env.id, cell.algo.label)][cell.seed]
        steps = [[0.0, 0.0], [value / 2, value], [top[cell.env.id], value]]
        _fake_run(cell, steps, [value, value], kept_best=cell.algo.label == "iql")
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main([str(path), "--report-only", "--no-gifs"]) == 0

    results = json.loads(read(tmp_path / "out" / "results.json"))
    assert results["donor"]["v0"]["iql"]["seed_1"]["absolute_metrics"]["return"] == [50.0, 50.0]
    report = read(tmp_path / "out" / "leaderboard.md")
    ippo_foraging = mean_confidence_interval([0.2, 0.4])
    half = 12.706204736174698 * np.std([0.2, 0.4], ddof=1) / np.sqrt(2)  # t(0.975, df=1)
    assert ippo_foraging.high == pytest.approx(0.3 + half)
    assert f"0.300 [{0.3 - half:.3f}, {0.3 + half:.3f}]" in report
    assert "### Foraging/5x5-2p-1f-coop-v3 (normalisation bounds [0, 1])" in report
    assert "### donor/v0 (normalisation bounds [0, 50])" in report
    # final: the last evaluation's mean, (1 + 0.2) / 2 and (1 + 0.4) / 2; best: the absolute metric.
    # Two seeds give wide t-intervals: ippo and iql tie on foraging (both marked =, neither bold)
    assert "| ippo | 2 | 0.650 [" in report and "| = 0.300 [" in report
    assert "| = 0.800 [" in report and "**= " not in report
    assert "| steps 200, 200 |" in report  # iql kept its best policy (the last point)
    assert "| final policy (no best policy kept) |" in report  # ippo's runs kept none
    # IQM of ippo's pooled normalised scores [0.2, 0.4, 0.2, 0.4] is 0.3, iql's [0.6, 1, 0.6, 1]
    # is 0.8; their bootstrap intervals do not overlap: iql is bold
    assert "| ippo | 0.300 [" in report
    assert "| iql | **0.800 [" in report
    # every iql run beats every ippo run on both tasks
    assert "| iql | 1.00 [1.00, 1.00] |  |" in report.replace("**", "")
    assert "| ippo |  | 0.00 [0.00, 0.00] |" in report.replace("**", "")
    page = read(tmp_path / "out" / "leaderboard.html")
    assert "<b>0.800 <span class='ci'>[" in page and "plots/donor_v0.png" in page
    assert "white-space:nowrap" in page
    for name in ("donor_v0.png", "aggregate.png"):
        assert os.path.getsize(tmp_path / "out" / "plots" / name) > 0


def test_command_line_grid_and_errors(tmp_path, capsys):
    assert main(["--envs", TASK]) == 2
    assert "--envs and --algos" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--envs", TASK, "--algos", "ippo", "--address", "auto"]) == 2
    assert "--launcher ray" in capsys.readouterr().err


def test_the_report_tables_replace_the_readme_block_and_only_it(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- leaderboard:g -->\nold table\n<!-- /leaderboard:g -->\noutro\n")
    copy_into_readme(
        str(readme), "g", ["## Per task", "", "| a | b |", "|---|---:|", "| x | 1 |", ""]
    )
    assert readme.read_text() == (
        "intro\n<!-- leaderboard:g -->\n**Per task**\n\n| a | b |\n|---|---:|\n| x | 1 |\n"
        "<!-- /leaderboard:g -->\noutro\n"
    )
    readme.write_text("no block here\n")
    with pytest.raises(
        ValueError, match="must hold one <!-- leaderboard:g --> ... <!-- /leaderboard:g --> block"
    ):
        copy_into_readme(str(readme), "g", ["x"])


def test_the_readme_shows_the_committed_leaderboard_tables():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md")) as f:
        block = (
            f.read().split("<!-- leaderboard:small -->")[1].split("<!-- /leaderboard:small -->")[0]
        )
    with open(os.path.join(root, "benchmarks", "results", "small", "leaderboard.md")) as f:
        report = f.read().replace("\n## ", "\n**")
    tables = [line for line in block.strip().splitlines()[1:] if line.startswith("|")]
    assert (
        len(tables) >= 2 + 4 + 2 + 8
    )  # the per-task table (4 tasks) and the overall one (8 learners)
    assert all(line in report for line in tables)
