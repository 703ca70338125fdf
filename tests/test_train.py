"""train.py: configs, the run directory, resume, failure handling, and the generic PettingZoo path."""

import glob
import io
import json
import os
import signal

import numpy as np
import pytest
import torch
from toy_envs import CoordinationCore, MatchParallelEnv, one_torch_thread  # noqa: F401  (autouse fixture)

import envs
import train
from agents.policy import Policy
from algorithms.runs.checkpoint import load_checkpoint, with_checksum
from train import CheckpointError, ConfigError, TrainConfig, build, load_config, main

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs")
TOY_IDS = {
    "toy-coordination-v0": {"core": CoordinationCore, "kwargs": {"masked": True}},
    "toy-nan-v0": {"core": CoordinationCore, "kwargs": {"nan_after": 40}},
    "toy-match-v0": {"parallel": MatchParallelEnv},
}


@pytest.fixture
def toy_envs():
    for env_id, entry in TOY_IDS.items():
        envs.register(
            env_id,
            entry.get("core"),
            parallel=entry.get("parallel"),
            kwargs=entry.get("kwargs"),
            override=True,
        )
    yield
    for env_id in TOY_IDS:
        envs._REGISTRY.pop(env_id, None)


def quick(tmp_path, *overrides, env_id="toy-coordination-v0"):
    """A tiny run config: 4 env copies, 8-step rollouts (32 env steps per update)."""
    base = [
        f"log.dir={tmp_path}",
        "log.progress=false",
        "log.tensorboard=false",
        f"env.id={env_id}",
        "env.num_envs=4",
        "algo.rollout_length=8",
        "algo.net.hidden_size=16",
        "algo.epochs=2",
        "eval.episodes=4",
        "eval.absolute_episodes=8",
        "eval.every_env_steps=128",
        "total_env_steps=384",
        "checkpoint.every_updates=4",
        "run_name=run",
    ]
    return load_config(None, base + list(overrides))


def params(run_dir):
    path = max(glob.glob(os.path.join(run_dir, "checkpoints", "update_*.pt")))
    return torch.load(path, weights_only=False)["learner"]


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------------- configs
def test_defaults_are_the_default_job():
    cfg = TrainConfig()
    assert cfg.env.id == "Foraging-8x8-2p-2f-coop-v3" and cfg.algo.name == "ippo"
    assert load_config() == cfg


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(CONFIG_DIR, "*.yaml"))), ids=lambda p: os.path.basename(p)
)
def test_every_yaml_in_configs_loads_and_builds(path):
    cfg = load_config(path, ["env.num_envs=2"])
    env, learner = build(cfg)
    assert learner.env is env and env.num_envs == 2


def test_configs_cover_each_learner_on_each_foraging_task():
    names = {os.path.basename(p) for p in glob.glob(os.path.join(CONFIG_DIR, "*.yaml"))}
    for algo in ("ippo", "mappo", "mfac"):
        for task in ("foraging_8x8_2p_2f_coop", "foraging_10x10_3p_3f", "foraging_15x15_4p_5f"):
            assert f"{algo}_{task}.yaml" in names


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algo.lrr=0.1"], "unknown config key 'algo.lrr'.*did you mean 'algo.lr'"),
        (["evl.episodes=3"], "unknown config key 'evl'.*did you mean 'eval'"),
        (["algo=mappo", "algo.clip=0.1"], "'algo.clip'.*did you mean 'algo.clip_coef'"),
        (["algo.lr=fast"], "config key 'algo.lr'.*expects float"),
        (["algo.epochs=1.5"], "config key 'algo.epochs'.*expects int"),
        (["algo.net.recurrent=maybe"], "config key 'algo.net.recurrent'.*expects bool"),
        (["algo=mapo"], "unknown algorithm 'mapo'; did you mean 'mappo'"),
        (["algo.gamma=1.5"], r"algo.gamma must lie in \[0, 1\]"),
        (["env.num_envs=0"], "env.num_envs is out of range"),
        (["device=gpu"], "device must be"),
        (["seed"], "key=value"),
    ],
)
def test_bad_keys_and_values_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_yaml_overrides_and_algo_selection(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("algo:\n  name: mappo\n  lr: 0.002\nseed: 3\n")
    cfg = load_config(str(path))
    assert (
        cfg.algo.name == "mappo"
        and cfg.algo.lr == 0.002
        and cfg.seed == 3
        and cfg.algo.clip_value_loss
    )
    cfg = load_config(str(path), ["algo=mfac", "algo.epochs=7"])  # the command line wins
    assert cfg.algo.name == "mfac" and cfg.algo.lr == 0.002 and cfg.algo.epochs == 7
    path.write_text("algo: ippo\nalgo_lr: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'algo_lr' \(from .*c.yaml\)"):
        load_config(str(path))
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))


def test_env_problems_fail_before_training(tmp_path):
    with pytest.raises(ConfigError, match="env.id: unknown env id"):
        build(load_config(None, ["env.id=Foraging-8x8-2p-2f-cop-v3"]))
    with pytest.raises(ConfigError, match="'env.kwargs.field_sise'.*did you mean 'field_size'"):
        build(load_config(None, ["env.kwargs.field_sise=5"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        build(load_config(None, ["device=cuda"]))


def test_command_line_errors_exit_with_2(capsys):
    assert main(["algo.lrr=1"]) == 2
    assert "did you mean 'algo.lr'" in capsys.readouterr().err
    assert main(["--print-config", "algo=mfac"]) == 0
    assert "name: mfac" in capsys.readouterr().out


# ---------------------------------------------------------------------- a run
def test_run_directory_contents(tmp_path, toy_envs):
    cfg = quick(tmp_path, "log.tensorboard=true", "checkpoint.keep=2")
    result = train.train(cfg)
    run = result.run_dir
    assert result.status == "finished" and result.env_steps == 384 and result.updates == 12
    assert load_config(os.path.join(run, "config.yaml")) == cfg
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == [
        "update_0000008.pt",
        "update_0000012.pt",
    ]
    lines = read_jsonl(os.path.join(run, "metrics.jsonl"))
    updates = [line for line in lines if "charts/SPS" in line]
    assert [line["update"] for line in updates] == list(range(1, 13))
    assert all(
        "losses/policy_loss" in line and "charts/episodic_return" in line for line in updates
    )
    assert "env/success_rate" in updates[-1]
    with open(os.path.join(run, "eval.json")) as f:
        eval_json = json.load(f)
    seeds = eval_json["toy"]["coordination-v0"]["ippo"]
    steps = [v["step_count"] for k, v in seeds["seed_0"].items() if k.startswith("step_")]
    assert steps == [0, 128, 256, 384]
    assert (
        len(seeds["seed_0"]["step_1"]["return"]) == 4
        and len(seeds["seed_0"]["absolute_metrics"]["return"]) == 8
    )
    policy = Policy.load(os.path.join(run, "policy.pt"))
    assert (
        policy.metadata["env_id"] == "toy-coordination-v0" and policy.metadata["env_steps"] == 384
    )
    assert os.path.exists(os.path.join(run, "policy_best.pt"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(run).Reload().Tags()["scalars"]
    assert {
        "charts/episodic_return",
        "charts/SPS",
        "losses/value_loss",
        "env/success_rate",
        "eval/return",
    } <= set(tags)
    with pytest.raises(ConfigError, match="already exists"):
        train.train(cfg)


@pytest.mark.parametrize(
    ("env_id", "algo"), [("toy-coordination-v0", "mappo"), ("Foraging-5x5-2p-1f-coop-v3", "mfac")]
)
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, toy_envs, env_id, algo):
    extra = [f"algo={algo}", "algo.net.recurrent=true"] if algo == "mappo" else [f"algo={algo}"]
    straight = train.train(quick(tmp_path / "a", *extra, env_id=env_id))

    def interrupt_at_5(learner, metrics):
        if learner.updates == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C: finish the update, save, exit

    first = train.train(quick(tmp_path / "b", *extra, env_id=env_id), on_update=interrupt_at_5)
    assert first.status == "interrupted" and first.updates == 5 and first.exit_code == 130
    assert "--resume" in first.message
    assert main(["--resume", first.run_dir, "log.progress=false"]) == 0
    a, b = params(straight.run_dir), params(first.run_dir)
    assert a["updates"] == b["updates"] == 12
    for part in ("actor", "critic"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert np.array_equal(a["obs"], b["obs"])
    lines = [line["update"] for line in read_jsonl(os.path.join(first.run_dir, "metrics.jsonl"))]
    assert sorted(set(lines)) == list(range(13)) and lines.count(6) == 1


def test_second_ctrl_c_stops_without_saving(tmp_path, toy_envs):
    def interrupt_twice(learner, metrics):
        if learner.updates == 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    result = train.train(quick(tmp_path, "checkpoint.every_updates=2"), on_update=interrupt_twice)
    assert result.status == "interrupted" and "without saving" in result.message
    assert sorted(os.listdir(os.path.join(result.run_dir, "checkpoints"))) == [
        "update_0000002.pt",
        "update_0000004.pt",
    ]


def test_a_checkpoint_from_before_a_new_setting_resumes_at_its_default(tmp_path, toy_envs):
    run = train.train(quick(tmp_path, "total_env_steps=128")).run_dir
    cfg = load_config(os.path.join(run, "config.yaml"))
    ckpt = train.latest_checkpoint(run)
    payload = torch.load(ckpt, weights_only=False)
    del payload["identity"]["algo"]["anneal_lr"]  # as written before the setting existed
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with open(ckpt, "wb") as f:
        f.write(with_checksum(buffer.getvalue()))
    assert "anneal_lr" not in load_checkpoint(ckpt, cfg)["identity"]["algo"]  # accepted
    changed = load_config(os.path.join(run, "config.yaml"), ["algo.anneal_lr=false"])
    with pytest.raises(CheckpointError, match="algo.anneal_lr: checkpoint None vs config False"):
        load_checkpoint(ckpt, changed)


def test_corrupt_and_mismatched_checkpoints_are_refused(tmp_path, toy_envs, capsys):
    run = train.train(quick(tmp_path, "total_env_steps=128")).run_dir
    cfg = load_config(os.path.join(run, "config.yaml"))
    other = load_config(os.path.join(run, "config.yaml"), ["seed=5"])
    with pytest.raises(CheckpointError, match="does not match this run's config.*seed"):
        train.train(other, resume=run)
    assert main(["--resume", run, "algo.lr=0.1"]) == 2
    assert "cannot change ['algo.lr'] when resuming" in capsys.readouterr().err
    ckpt = train.latest_checkpoint(run)
    with open(ckpt, "r+b") as f:
        f.truncate(os.path.getsize(ckpt) // 2)
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        train.train(cfg, resume=run)
    assert main(["--resume", run]) == 2
    assert "refusing to resume" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="no checkpoints"):
        train.latest_checkpoint(str(tmp_path))


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, toy_envs):
    # 4 copies x 8 steps per update; rewards turn NaN after 40 core steps, i.e. in update 6
    cfg = quick(
        tmp_path, "env.id=toy-nan-v0", "checkpoint.every_updates=2", "eval.every_env_steps=0"
    )
    result = train.train(cfg)
    assert result.status == "failed" and result.exit_code == 1
    assert "at update 6" in result.message and "loss '" in result.message
    assert "last good checkpoint" in result.message
    assert sorted(os.listdir(os.path.join(result.run_dir, "checkpoints"))) == [
        "update_0000002.pt",
        "update_0000004.pt",
    ]
    assert params(result.run_dir)["updates"] == 4


# ---------------------------------------------------------------------- the generic path
def test_a_plain_parallel_env_trains_through_the_generic_path(tmp_path, toy_envs):
    cfg = quick(
        tmp_path,
        "env.id=toy-match-v0",
        "env.num_envs=8",
        "algo.rollout_length=10",
        "algo.lr=0.003",
        "algo.epochs=4",
        "total_env_steps=4000",
        "eval.every_env_steps=0",
        "eval.episodes=16",
    )
    result = train.train(cfg)
    # random play: 5 steps x 1/3 x 2 agents = 3.3 per episode; the optimum is 10
    assert result.status == "finished" and result.eval_return > 8.0


def test_mpe2_simple_spread_trains(tmp_path):
    mpe2 = pytest.importorskip(
        "mpe2", reason="mpe2 is not installed (it brings pygame-ce; keep it out of this venv)"
    )
    from mpe2 import simple_spread_v3

    envs.register(
        "test-simple-spread-v3",
        parallel=simple_spread_v3.parallel_env,
        kwargs={"N": 3, "max_cycles": 25, "continuous_actions": False},
        override=True,
    )
    try:
        cfg = quick(tmp_path, "env.id=test-simple-spread-v3", "algo=mappo", "total_env_steps=256")
        assert train.train(cfg).status == "finished"
    finally:
        envs._REGISTRY.pop("test-simple-spread-v3", None)
    assert mpe2 is not None


def test_the_command_line_imports_a_users_env_module_or_names_the_missing_one(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "cli_lamps.py").write_text(
        "import envs\nfrom toy_envs import CoordinationCore\n"
        "envs.register('cli-lamps-v0', CoordinationCore, description='a test env registered by a user module')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # the import adds the directory
    assert train.main(["--import", "cli_lamps", "--print-config", "env.id=cli-lamps-v0"]) == 0
    assert "id: cli-lamps-v0" in capsys.readouterr().out
    assert train.main(["--import", "no_such_env_module", "env.id=cli-lamps-v0"]) == 2
    assert "cannot import env module 'no_such_env_module'" in capsys.readouterr().err
