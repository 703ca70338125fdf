"""What the command line tells a researcher (issue 22): --help, whole floats for int keys, the final line."""

import json
import os

import pytest
import yaml

import envs
import train
from algorithms import ALGORITHMS
from train import ConfigError, load_config, main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_help_lists_the_learners_the_env_ids_and_where_the_keys_are(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in ALGORITHMS)
    assert all(env_id in text for env_id in envs.list_envs(aliases=True))
    assert "--print-config" in text
    configs = [w for w in text.split() if w.startswith("configs/")]
    assert configs and all(os.path.isfile(c) for c in configs)  # the examples name real files


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("total_env_steps=1e6", "total_env_steps", 1_000_000),
        ("eval.every_env_steps=5e4", "eval.every_env_steps", 50_000),
        ("algo.rollout_length=16.0", "algo.rollout_length", 16),
    ],
)
def test_whole_floats_are_accepted_where_an_int_is_declared(override, key, value):
    cfg = load_config(None, [override])
    got = cfg
    for part in key.split("."):
        got = getattr(got, part)
    assert got == value and type(got) is int


def test_fractional_floats_are_still_refused_for_int_keys():
    with pytest.raises(ConfigError, match="'total_env_steps'.*expects int"):
        load_config(None, ["total_env_steps=1.5"])


def test_sub_learner_int_keys_take_whole_floats_too():
    cfg = load_config(None, ["algo=mansa", "algo.budget=3.0", "algo.il_cfg.buffer_size=2e3"])
    assert cfg.algo.budget == 3 and cfg.algo.il_config.buffer_size == 2000


def test_the_final_line_names_the_final_and_the_best_return(tmp_path, capsys):
    code = main(
        [
            "env.id=Foraging-5x5-2p-1f-coop-v3",
            "env.num_envs=4",
            "algo.rollout_length=8",
            "total_env_steps=1e3",
            "eval.every_env_steps=256",
            "eval.episodes=4",
            "eval.absolute_episodes=0",
            "log.progress=false",
            "log.tensorboard=false",
            f"log.dir={tmp_path}",
            "run_name=run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "final sampled eval return" in out  # IPPO under eval.actions=auto
    best = os.path.join(tmp_path, "run", "policy_best.pt")
    assert os.path.isfile(best) and "best " in out and best in out


def test_metrics_lines_carry_the_training_wall_clock(tmp_path):
    cfg = load_config(
        None,
        [
            "env.id=Foraging-5x5-2p-1f-coop-v3",
            "env.num_envs=4",
            "algo.rollout_length=8",
            "total_env_steps=128",
            "eval.every_env_steps=0",
            "eval.absolute_episodes=0",
            "log.progress=false",
            "log.tensorboard=false",
            f"log.dir={tmp_path}",
            "run_name=run",
        ],
    )
    train.train(cfg)
    with open(os.path.join(tmp_path, "run", "metrics.jsonl")) as f:
        seconds = [json.loads(line).get("charts/train_seconds") for line in f]
    updates = [s for s in seconds if s is not None]
    assert len(updates) == 4 and all(b >= a > 0 for a, b in zip(updates, updates[1:]))


def test_a_run_result_without_evaluations_says_so_plainly(tmp_path):
    result = train.RunResult(str(tmp_path), "finished", 10, 1, None)
    assert result.summary() == f"finished: 10 env steps, 1 updates\nrun directory: {tmp_path}"


@pytest.mark.parametrize("name", ["ippo", "mansa"])
def test_print_config_docs_comments_each_key_and_stays_the_same_yaml(name, capsys):
    assert main(["--print-config", f"algo={name}"]) == 0
    plain = capsys.readouterr().out
    assert main(["--print-config", "--docs", f"algo={name}", "env.kwargs.penalty=0.1"]) == 0
    documented = capsys.readouterr().out
    expected = yaml.safe_load(plain)
    expected["env"]["kwargs"] = {"penalty": 0.1}
    assert yaml.safe_load(documented) == expected  # the comments change nothing
    lines = documented.splitlines()
    # every key line is preceded by a comment at its indentation (its field's or section's doc)
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#") or line.startswith(" " * 4 + "penalty"):
            continue
        if line.rstrip().endswith(":") or ": " in line:
            indent = line[: len(line) - len(line.lstrip())]
            assert lines[i - 1].startswith(f"{indent}# "), f"no doc above {line!r}"
    assert "# Width of the hidden layers" in documented  # a nested dataclass's field doc
    assert "# Where and how progress is reported." in documented  # a section's class doc


def test_docs_without_print_config_is_refused(capsys):
    assert main(["--docs"]) == 2
    assert "--docs goes with --print-config" in capsys.readouterr().err


def test_field_docs_without_source_are_empty_not_an_error():
    from algorithms.config import field_docs

    namespace: dict = {}
    exec("import dataclasses\n@dataclasses.dataclass\nclass C:\n    a: int = 1\n", namespace)
    assert field_docs(namespace["C"]) == {}
