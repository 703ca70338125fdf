"""benchmarks/lbf_table.py: the summary from run directories, the published column, the settings."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from algorithms import get_algorithm
from algorithms.config import build_config
from benchmarks import lbf_table
from benchmarks.lbf_table import RunRef


def write_run(path, curve, final=None):
    """A run directory holding eval.json (marl-eval layout) with ``curve``: [(step, returns)]."""
    os.makedirs(path)
    entry = {"step_0": {"step_count": 0, "return": [0.0, 0.0]}}
    for k, (step, returns) in enumerate(curve, start=1):
        entry[f"step_{k}"] = {"step_count": step, "return": returns}
    with open(os.path.join(path, "eval.json"), "w") as f:
        json.dump({"Foraging": {"task": {"algo": {"seed_0": entry}}}}, f)
    if final is not None:
        with open(os.path.join(path, lbf_table.FINAL_FILE), "w") as f:
            json.dump(final, f)
    return str(path)


def small_table(figures=None):
    return {
        "name": "t",
        "tasks": {"8x8-2p-2f-coop": "Foraging-8x8-2p-2f-coop-v3"},
        "algorithms": {"qmix": {"budget": 2050000}, "ippo": {"budget": 20050000}},
        "protocol": {"eval.episodes": 100},
        "published": {"source": "paper, Table 3", "figures": figures or {}},
    }


def test_summary_from_run_dirs(tmp_path):
    # seed 0 peaks at 100k (0.9), ends at 0.5; seed 1 peaks at 150k (0.8), ends at 0.8
    a = write_run(tmp_path / "a", [(50_000, [0.2, 0.4]), (100_000, [0.8, 1.0]), (150_000, [0.5])])
    b = write_run(
        tmp_path / "b",
        [(50_000, [0.1]), (100_000, [0.5]), (150_000, [0.8])],
        final={"greedy_return": 0.7, "sampled_return": 0.75},
    )
    figures = {"8x8-2p-2f-coop": {"qmix": {"value": 0.6, "table": 3, "page": 7}}}
    refs = [
        RunRef("8x8-2p-2f-coop", "qmix", "epymarl", 1, b, 150_000),
        RunRef("8x8-2p-2f-coop", "qmix", "epymarl", 0, a, 150_000),
    ]
    (row,) = lbf_table.build_rows(refs, small_table(figures))
    s0, s1 = row["seeds"]
    assert (s0["seed"], s0["max_return"], s0["final_return"], s0["env_steps"]) == (
        0,
        pytest.approx(0.9),
        pytest.approx(0.5),
        150_000,
    )
    assert (s1["max_return"], s1["final_return"]) == (pytest.approx(0.8), pytest.approx(0.8))
    assert s1["final_fresh_sampled_return"] == 0.75 and "final_fresh_greedy_return" not in s0
    # EPyMARL's metric: the step with the best mean over seeds (100k: 0.7), not the mean of maxima
    assert row["epymarl_max_return"] == {"value": pytest.approx(0.7), "env_steps": 100_000}
    assert row["mean_final_return"] == pytest.approx(0.65)
    assert row["published"]["value"] == 0.6 and row["published"]["table"] == 3
    assert row["difference"] == pytest.approx(0.1)


def test_metric_uses_only_steps_every_seed_has():
    seeds = [
        {"curve": [{"env_steps": 1, "return": 0.2}, {"env_steps": 2, "return": 1.0}]},
        {"curve": [{"env_steps": 1, "return": 0.4}]},
    ]
    assert lbf_table.epymarl_metric(seeds) == {"value": pytest.approx(0.3), "env_steps": 1}


def test_published_column_and_its_citation(tmp_path):
    assert lbf_table.published_figure(small_table(), "8x8-2p-2f-coop", "qmix") == {
        "value": None,
        "note": "not found",
    }
    bad = small_table({"8x8-2p-2f-coop": {"qmix": {"value": 1.0}}})
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="needs 'table' and 'page'"):
        lbf_table.load_table(str(path))
    real = lbf_table.load_table()  # the committed file: every figure cited, or none
    for task, algos in (real["published"]["figures"] or {}).items():
        for algo in algos:
            cited = lbf_table.published_figure(real, task, algo)
            assert cited["value"] is None or (cited["table"] and cited["page"])


def test_epymarl_settings_are_valid_overrides():
    table = lbf_table.load_table()
    for algo in table["algorithms"]:
        overrides = lbf_table.settings_overrides(algo, "epymarl")
        algo_keys = {k[len("algo.") :]: v for k, v in overrides.items() if k.startswith("algo.")}
        build_config(get_algorithm(algo)[0], algo_keys)  # raises on an unknown or bad key
    assert lbf_table.settings_overrides("qmix", "ours") == {}


def test_budget_never_above_epymarls():
    table = lbf_table.load_table()
    with pytest.raises(ValueError, match="exceeds EPyMARL's budget for qmix"):
        lbf_table.grid_data(table, ["8x8-2p-2f-coop"], ["qmix"], [0], ["ours"], 3_000_000)
    data = lbf_table.grid_data(table, ["8x8-2p-2f-coop"], ["ippo"], [0], ["epymarl", "ours"])
    labels = [a["label"] for a in data["algorithms"]]
    assert labels == ["ippo-epymarl", "ippo-ours"]
    assert all(a["overrides"]["total_env_steps"] == 20_050_000 for a in data["algorithms"])
    assert data["overrides"]["eval.every_env_steps"] == 50_000


def test_rows_merge_and_markdown_marks_cells_not_run():
    old = [{"task": "8x8-2p-2f-coop", "algo": "qmix", "settings": "ours", "x": 1}]
    new = [{"task": "8x8-2p-2f-coop", "algo": "qmix", "settings": "ours", "x": 2}]
    assert lbf_table.merge_rows(old, new) == new
    text = lbf_table.markdown([], small_table(), ["epymarl"])
    assert text.count("not yet run") == 2 and "not found" in text


def test_summary_md_keeps_rows_of_settings_not_run_this_time(tmp_path):
    # a cell under EPyMARL's settings ran first; a later call with --settings ours must not
    # drop it from summary.md (summary.json always kept it)
    a = write_run(tmp_path / "a", [(50_000, [0.4])])
    b = write_run(tmp_path / "b", [(50_000, [0.9])])
    table = small_table()
    first = lbf_table.build_rows([RunRef("8x8-2p-2f-coop", "qmix", "epymarl", 0, a, 50_000)], table)
    lbf_table.write_summary(str(tmp_path), first, table, ["epymarl"])
    later = lbf_table.build_rows([RunRef("8x8-2p-2f-coop", "ippo", "ours", 0, b, 50_000)], table)
    lbf_table.write_summary(str(tmp_path), later, table, ["ours"])
    lines = (tmp_path / "summary.md").read_text().splitlines()
    ran = [line.split(" | ")[1:4] for line in lines if "not yet run" not in line][2:]
    assert ran == [["qmix", "epymarl", "1"], ["ippo", "ours", "1"]]
    assert sum("not yet run" in line for line in lines) == 2  # qmix-ours, ippo-epymarl


def test_bad_choice_names_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        lbf_table.main(["--algos", "qmx", "--summary-only"])
    assert "valid: iql" in capsys.readouterr().err


def test_one_cell_end_to_end(tmp_path):
    """A tiny real cell (one IPPO iteration) through the grid, the hook and the summary."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = ["--tasks", "8x8-2p-2f-coop", "--algos", "ippo", "--seeds", "0", "--settings"]
    argv += ["ours", "--env-steps", "4096", "--eval-episodes", "4", "--launcher", "serial"]
    assert lbf_table.main([*argv, "--out", str(out), "--runs-dir", str(runs)]) == 0
    (row,) = json.loads((out / "summary.json").read_text())
    (seed,) = row["seeds"]
    assert seed["env_steps"] >= 4096 and 0.0 <= seed["final_return"] <= 1.0
    assert "final_fresh_sampled_return" in seed
    assert "| 8x8-2p-2f-coop | ippo | ours | 1 |" in (out / "summary.md").read_text()
