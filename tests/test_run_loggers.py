"""The optional loggers beside TensorBoard and metrics.jsonl: metrics.csv (``log.csv``) and
Weights & Biases in offline mode (``log.wandb``, an optional extra)."""

from __future__ import annotations

import csv
import glob
import json
import os
import sys

import pytest

import train
from algorithms.runs.logger import CSV_HEADER, RunLogger, rewind_logs
from train import ConfigError, load_config, main

TINY = [
    "env.id=Foraging-5x5-2p-1f-coop-v3",
    "env.num_envs=4",
    "algo.rollout_length=8",
    "total_env_steps=128",
    "eval.every_env_steps=64",
    "eval.episodes=2",
    "eval.absolute_episodes=0",
    "log.progress=false",
    "log.tensorboard=false",
    "torch_threads=1",
    "run_name=run",
]


def _jsonl_rows(path: str) -> list[tuple]:
    rows = []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            update, step = record.pop("update"), record.pop("env_steps")
            rows += [(update, step, k, v) for k, v in record.items()]
    return rows


def _csv_rows(path: str) -> list[tuple]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == CSV_HEADER
        return [(int(u), int(s), k, float(v) if v else None) for u, s, k, v in reader]


def test_metrics_csv_holds_every_scalar_of_metrics_jsonl(tmp_path):
    train.train(load_config(None, [*TINY, "log.csv=true", f"log.dir={tmp_path}"]))
    run = tmp_path / "run"
    rows = _csv_rows(run / "metrics.csv")
    assert rows == _jsonl_rows(run / "metrics.jsonl")
    keys = {key for _, _, key, _ in rows}
    assert {"charts/SPS", "eval/return"} <= keys and len(rows) > 20


def test_metrics_csv_is_off_by_default(tmp_path):
    train.train(load_config(None, [*TINY, f"log.dir={tmp_path}"]))
    assert not os.path.exists(tmp_path / "run" / "metrics.csv")


def test_a_resume_cuts_metrics_csv_back_to_the_checkpoint(tmp_path):
    cfg = load_config(None, [*TINY, "log.csv=true", f"log.dir={tmp_path}"])
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    logger = RunLogger(run_dir, cfg, 0)
    logger.scalars({"a": 1.0, "b": float("nan")}, 4, 1)
    logger.flush()
    offsets = logger.offsets()
    logger.scalars({"a": 2.0}, 8, 2)  # after the checkpoint: redone on resume
    logger.close()
    rewind_logs(run_dir, {"log_offsets": offsets}, 1)
    assert _csv_rows(os.path.join(run_dir, "metrics.csv")) == [(1, 4, "a", 1.0), (1, 4, "b", None)]
    # a checkpoint from before metrics.csv existed: the file starts over (header included)
    rewind_logs(run_dir, {"log_offsets": {"metrics": 0, "events": {}}}, 1)
    assert os.path.getsize(os.path.join(run_dir, "metrics.csv")) == 0
    logger = RunLogger(run_dir, cfg, 0)
    logger.scalars({"a": 3.0}, 4, 1)
    logger.close()
    assert _csv_rows(os.path.join(run_dir, "metrics.csv")) == [(1, 4, "a", 3.0)]


def test_wandb_missing_is_named_with_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what an environment without it sees
    with pytest.raises(ConfigError, match=r"pip install 'marlgym\[wandb\]'"):
        train.build(load_config(None, [*TINY, "log.wandb=true"]))
    assert main([*TINY, "log.wandb=true", f"log.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "log.wandb=true needs the wandb package" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []  # refused before the run directory was made


def test_an_unknown_wandb_mode_is_refused():
    with pytest.raises(ConfigError, match="log.wandb_mode must be offline or online, got 'cloud'"):
        load_config(None, ["log.wandb_mode=cloud"])


def test_wandb_offline_writes_the_run_under_its_directory(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is an optional extra (pip install 'marlgym[wandb]')")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = train.train(load_config(None, [*TINY, "log.wandb=true", f"log.dir={tmp_path}"]))
    assert result.status == "finished"
    runs = glob.glob(str(tmp_path / "run" / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(runs) == 1
    with open(runs[0], "rb") as f:
        data = f.read()
    assert b"charts/SPS" in data and b"eval/return" in data  # the scalars reached it


def test_a_crashed_and_resumed_run_writes_the_csv_of_an_uninterrupted_one(tmp_path):
    def crash(learner, metrics):
        if learner.updates == 3:
            raise RuntimeError("crash")  # after checkpoint 2; update 3 is logged and flushed

    def rows(run_dir):  # the timing scalars differ between any two runs
        timing = ("charts/SPS", "charts/train_seconds")
        return [r for r in _csv_rows(os.path.join(run_dir, "metrics.csv")) if r[2] not in timing]

    extra = ["log.csv=true", "checkpoint.every_updates=2", "total_env_steps=192"]
    straight = train.train(load_config(None, [*TINY, *extra, f"log.dir={tmp_path / 'a'}"]))
    cfg = load_config(None, [*TINY, *extra, f"log.dir={tmp_path / 'b'}"])
    with pytest.raises(RuntimeError, match="crash"):
        train.train(cfg, on_update=crash)
    resumed = train.train(cfg, resume=str(tmp_path / "b" / "run"))
    assert resumed.status == straight.status == "finished"
    assert rows(resumed.run_dir) == rows(straight.run_dir)
    assert [r[0] for r in rows(straight.run_dir) if r[2] == "losses/policy_loss"] == list(
        range(1, 7)
    )
