"""Nothing lost, ever (issue 24): a run killed anywhere resumes to exactly what an uninterrupted
run writes (final weights, eval.json, the whole metrics.jsonl, TensorBoard scalars); SIGTERM
saves like Ctrl-C; a run directory is locked; checkpoints carry a checksum; the leaderboard's
workers die with their driver; and the errors around all this say what to do."""

from __future__ import annotations

import glob
import hashlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import train
from algorithms.runs import rundir
from algorithms.runs.checkpoint import CorruptCheckpointError, load_checkpoint
from benchmarks.launchers import RunSpec, SerialLauncher

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

FAMILIES = {
    "foraging": ["env.id=Foraging-5x5-2p-1f-coop-v3"],
    "swarming": [
        "env.id=swarming-vicsek-v0",
        "env.kwargs.num_agents=4",
        "env.kwargs.max_episode_steps=16",
    ],
    "donor": ["env.id=donor-v0", "env.kwargs.num_agents=4", "env.kwargs.num_rounds=4"],
    "routing": ["env.id=routing-braess-v0", "env.kwargs.max_days=8"],
}
PPO = ["algo.rollout_length=8", "algo.minibatches=2", "algo.epochs=1", "algo.net.hidden_size=16"]
VALUE = [
    "algo.batch_size=4",
    "algo.buffer_size=64",
    "algo.env_steps_per_update=8",
    "algo.target_update_interval=3",
    "algo.net.hidden_size=16",
]
LEARNERS = {
    "ippo": PPO,
    "mappo": PPO,
    "mfac": PPO,
    "decpomfc": PPO,
    "iql": VALUE,
    "vdn": VALUE,
    "qmix": VALUE,
    "mfq": VALUE,
    "mansa": ["algo.rollout_length=8"],
    "maddpg": [*VALUE[:3], "algo.net.hidden_size=16"],
    "pma": ["algo.td_steps=4"],
}
BASE = [
    "env.num_envs=4",
    "total_env_steps=256",
    "checkpoint.every_updates=1",
    "eval.every_env_steps=96",
    "eval.episodes=2",
    "eval.absolute_episodes=2",
    "log.progress=false",
    "log.tensorboard=true",
    "run_name=run",
]


def compatible_pairs() -> list[tuple[str, str]]:
    """(learner, family) pairs the capability flags allow."""
    from algorithms import get_algorithm
    from algorithms.base import check_compatible

    pairs = []
    for family, overrides in FAMILIES.items():
        env = train.make_env(train.load_config(None, overrides), 1)
        for algo in LEARNERS:
            learner = get_algorithm(algo)[1]
            try:
                check_compatible(learner, env)
            except ValueError:
                continue
            if not learner.needs_neighbours or hasattr(env, "neighbour_mean"):
                pairs.append((algo, family))
        env.close()
    return pairs


PAIRS = [pytest.param(a, f, id=f"{a}-{f}") for a, f in compatible_pairs()]


# ---------------------------------------------------------------------- what a run wrote
def _leaves(obj, out: list[bytes], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        out.append(str(obj.dtype).encode() + obj.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        out.append(str(obj.dtype).encode() + np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, (int, float, str, bool, np.generic)) or obj is None:
        out.append(repr(obj).encode())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            if not timing(str(key)):
                out.append(str(key).encode())
                _leaves(obj[key], out, seen)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _leaves(value, out, seen)
    elif hasattr(obj, "__dict__"):  # e.g. the env core a learner checkpoints
        _leaves(vars(obj), out, seen)


def timing(key: str) -> bool:
    """Wall-clock measurements, which differ between any two runs (as in test_pinned_runs)."""
    return key == "charts/SPS" or any(w in key for w in ("time", "seconds", "wall"))


def weights_digest(run_dir: str) -> str:
    """The learner state (weights, optimiser, buffers, RNGs, env) of the run's last checkpoint."""
    payload = torch.load(train.latest_checkpoint(run_dir), weights_only=False)
    out: list[bytes] = []
    _leaves(payload["learner"], out, set())
    return hashlib.sha256(b"".join(out)).hexdigest()


def metrics(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [{k: v for k, v in row.items() if not timing(k)} for row in rows]


def scalars(run_dir: str) -> list[tuple[str, int, float]]:
    """Every TensorBoard scalar event of the run, in the order written (SPS left out)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    events = []
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                if not timing(value.tag):
                    number = value.simple_value or float(
                        torch.frombuffer(
                            bytearray(value.tensor.tensor_content), dtype=torch.float32
                        )
                        .sum()
                        .item()
                        if value.tensor.tensor_content
                        else (value.tensor.float_val[0] if value.tensor.float_val else 0.0)
                    )
                    events.append((value.tag, event.step, number))
    return events


def run_files(run_dir: str, tensorboard: bool = True) -> dict:
    with open(os.path.join(run_dir, "eval.json")) as f:
        evaluation = json.load(f)
    files = {"weights": weights_digest(run_dir), "eval": evaluation, "metrics": metrics(run_dir)}
    if tensorboard:
        files["scalars"] = scalars(run_dir)
    return files


def assert_same_run(resumed: dict, straight: dict) -> None:
    assert resumed["metrics"] == straight["metrics"]
    assert resumed["eval"] == straight["eval"]
    assert resumed["weights"] == straight["weights"]
    if "scalars" in straight:
        pairs = [(tag, step) for tag, step, _ in resumed["scalars"]]
        assert len(pairs) == len(set(pairs)), "duplicate TensorBoard (tag, step) pairs"
        assert resumed["scalars"] == straight["scalars"]


# ---------------------------------------------------------------------- killing runs
@pytest.fixture(scope="module")
def forkserver():
    """Child runs forked from a server that has imported torch and train once (fast, and no
    fork of this multi-threaded test process)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["crash_workers"])
    return ctx


def wait_for(predicate, timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.002)


def kill_at_random(ctx, overrides: list[str], run_dir: str, delay: float) -> None:
    """Train in a child process; SIGKILL it ``delay`` seconds after its first checkpoint."""
    from crash_workers import train_run

    child = ctx.Process(target=train_run, args=(None, overrides))
    child.start()
    first = os.path.join(run_dir, "checkpoints")
    wait_for(
        lambda: not child.is_alive() or glob.glob(os.path.join(first, "update_*.pt")),
        what="the first checkpoint",
    )
    time.sleep(delay)
    child.kill()  # SIGKILL: nothing is flushed, saved or cleaned up
    child.join()


@pytest.mark.parametrize(("algo", "family"), PAIRS)
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_run(tmp_path, forkserver, algo, family):
    """SIGKILL at a random moment after the first checkpoint (mid-update, mid-checkpoint, in
    an evaluation, after the end), resume: the run's files equal an uninterrupted run's."""
    overrides = [*BASE, f"algo={algo}", *FAMILIES[family], *LEARNERS[algo]]
    first: list[float] = []  # when the first update (and checkpoint) ended

    def clock(learner, metrics):
        first.append(first[0] if first else time.perf_counter())

    cfg = train.load_config(None, [f"log.dir={tmp_path / 'a'}", *overrides])
    straight = train.train(cfg, on_update=clock)
    seconds = time.perf_counter() - first[0]  # from the first checkpoint to the end
    assert straight.status == "finished"
    killed = str(tmp_path / "b" / "run")
    delay = random.Random(f"{algo}-{family}").uniform(0.0, 1.2 * seconds)
    kill_at_random(forkserver, [f"log.dir={tmp_path / 'b'}", *overrides], killed, delay)
    assert train.main(["--resume", killed]) == 0
    assert_same_run(run_files(killed), run_files(straight.run_dir))


def _grid(runs_dir: str) -> list[RunSpec]:
    cells = [("ippo", 0), ("iql", 0), ("ippo", 1)]
    specs = []
    for algo, seed in cells:
        name = f"{algo}-{seed}"
        overrides = (
            *BASE[:-2],
            "log.tensorboard=false",
            f"log.dir={runs_dir}",
            f"run_name={name}",
            f"algo={algo}",
            f"seed={seed}",
            *FAMILIES["foraging"],
            *LEARNERS[algo],
        )
        specs.append(RunSpec(name, os.path.join(runs_dir, name), overrides))
    return specs


def _finished(record) -> None:
    """Every run of a grid (again) must finish: a failed one says why (e.g. a locked run)."""
    assert record.done, f"{record.name}: {record.status}: {record.error}"


def _children(pid: int) -> list[int]:
    """The pool workers of process ``pid`` (not its resource tracker)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(stat.replace("stat", "cmdline"), "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if int(fields[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(stat.split("/")[2]))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _released(run_dir: str) -> bool:
    """Whether no process holds the run directory's lock (the OS frees it when the holder dies)."""
    if not os.path.exists(os.path.join(run_dir, rundir.LOCK_FILE)):
        return True
    try:
        rundir.RunLock(run_dir).release()
    except rundir.RunLockedError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_leaderboard_grid_killed_anywhere_resumes_to_the_uninterrupted_grid(tmp_path):
    straight = _grid(str(tmp_path / "a"))
    tick = time.perf_counter()
    SerialLauncher().run(straight, _finished)
    seconds = time.perf_counter() - tick
    killed = _grid(str(tmp_path / "b"))
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pickle; from leaderboard_workers import drive_grid; "
            "drive_grid(pickle.loads(sys.stdin.buffer.read()), 2)",
        ],
        stdin=subprocess.PIPE,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]),
        },
    )
    import pickle

    driver.stdin.write(pickle.dumps(killed))
    driver.stdin.close()
    wait_for(
        lambda: (
            driver.poll() is not None
            or any(glob.glob(os.path.join(s.run_dir, "checkpoints", "update_*.pt")) for s in killed)
        ),
        what="the grid's first checkpoint",
    )
    time.sleep(random.Random("grid").uniform(0.0, seconds))
    workers = _children(driver.pid)  # those alive now, just before the kill
    driver.kill()  # kill -9 of the driver alone
    driver.wait()
    wait_for(lambda: not any(_alive(p) for p in workers), timeout=5, what="the workers to die")
    # a worker the pool started after the snapshot dies of its parent's death too, a moment later
    wait_for(lambda: all(_released(s.run_dir) for s in killed), timeout=10, what="the runs' locks")
    SerialLauncher().run(killed, _finished)  # the grid again: resumes what was cut
    for a, b in zip(straight, killed, strict=True):
        assert_same_run(run_files(b.run_dir, False), run_files(a.run_dir, False))


# ---------------------------------------------------------------------- each item on its own
QUICK = [
    "env.id=Foraging-5x5-2p-1f-coop-v3",
    "env.num_envs=4",
    *PPO,
    "total_env_steps=256",
    "checkpoint.every_updates=2",
    "eval.every_env_steps=96",
    "eval.episodes=2",
    "eval.absolute_episodes=2",
    "log.progress=false",
    "log.tensorboard=false",
    "run_name=run",
]


def quick(tmp_path, *extra):
    return train.load_config(None, [f"log.dir={tmp_path}", *QUICK, *extra])


def test_metrics_reach_the_disk_with_every_checkpoint(tmp_path, forkserver):
    run_dir = str(tmp_path / "run")
    from crash_workers import train_run

    child = forkserver.Process(
        target=train_run, args=(None, [f"log.dir={tmp_path}", *QUICK, "total_env_steps=100000"])
    )
    child.start()
    ckpt = os.path.join(run_dir, "checkpoints", "update_0000004.pt")
    wait_for(lambda: os.path.exists(ckpt) or not child.is_alive(), what="checkpoint 4")
    child.kill()
    child.join()
    updates = {row["update"] for row in metrics(run_dir)}
    assert {1, 2, 3, 4} <= updates


def test_events_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    def crash(learner, metrics):
        if learner.updates == 3:
            raise RuntimeError("crash")  # after checkpoint 2; update 3 is logged and flushed

    cfg = quick(tmp_path, "log.tensorboard=true")
    with pytest.raises(RuntimeError, match="crash"):
        train.train(cfg, on_update=crash)
    run_dir = str(tmp_path / "run")
    assert train.train(cfg, resume=run_dir).status == "finished"
    pairs = [(tag, step) for tag, step, _ in scalars(run_dir)]
    assert len(pairs) == len(set(pairs))
    updates = [row["update"] for row in metrics(run_dir) if "losses/policy_loss" in row]
    assert updates == list(range(1, 9))


def test_resuming_a_finished_run_changes_none_of_its_files(tmp_path):
    result = train.train(quick(tmp_path))
    before = run_files(result.run_dir, False)
    assert train.main(["--resume", result.run_dir]) == 0
    assert run_files(result.run_dir, False) == before


def test_sigterm_saves_a_checkpoint_like_ctrl_c(tmp_path):
    def term_at_3(learner, metrics):
        if learner.updates == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    result = train.train(quick(tmp_path / "b"), on_update=term_at_3)
    assert result.status == "interrupted" and "SIGTERM" in result.message
    assert result.exit_code == 143 and result.updates == 3
    assert train.latest_checkpoint(result.run_dir).endswith("update_0000003.pt")
    assert train.main(["--resume", result.run_dir]) == 0
    straight = train.train(quick(tmp_path / "a"))
    assert run_files(result.run_dir, False) == run_files(straight.run_dir, False)


def test_a_run_directory_is_locked_while_a_process_trains_in_it(tmp_path, capsys):
    cfg = quick(tmp_path, "total_env_steps=64")
    run_dir = train.train(cfg).run_dir
    lock = rundir.RunLock(run_dir)  # as a second process training in it would
    try:
        with pytest.raises(rundir.RunLockedError, match=f"{run_dir} is in use.*pid {os.getpid()}"):
            train.train(cfg, resume=run_dir)
        assert train.main(["--resume", run_dir]) == 2
        assert "in use by another training process" in capsys.readouterr().err
    finally:
        lock.release()
    assert train.train(cfg, resume=run_dir).status == "finished"  # a dead holder's lock is gone


def test_a_damaged_checkpoint_is_refused_and_the_one_before_used(tmp_path, capsys):
    result = train.train(quick(tmp_path, "checkpoint.keep=2"))
    files = run_files(result.run_dir, False)
    latest = train.latest_checkpoint(result.run_dir)
    data = bytearray(open(latest, "rb").read())
    rng = random.Random(0)
    for position in rng.sample(range(len(data)), 100):  # a flipped byte anywhere is caught
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with open(latest, "wb") as f:
            f.write(damaged)
        with pytest.raises(CorruptCheckpointError):
            load_checkpoint(latest, quick(tmp_path))
    assert train.main(["--resume", latest]) == 2  # that file itself: refused
    assert "corrupt" in capsys.readouterr().err
    assert train.main(["--resume", result.run_dir]) == 0  # the run: from the one before
    err = capsys.readouterr().err
    assert "corrupt" in err and "resuming from the checkpoint before it" in err
    assert run_files(result.run_dir, False) == files


# ---------------------------------------------------------------------- errors that say what to do
def test_resuming_a_missing_run_names_it(capsys):
    assert train.main(["--resume", "runs/does_not_exist"]) == 2
    assert "--resume runs/does_not_exist: no such run directory" in capsys.readouterr().err


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path, capsys):
    def crash(learner, metrics):
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        train.train(quick(tmp_path / "b"), on_update=crash)
    killed = str(tmp_path / "b" / "run")
    assert train.main(["--resume", killed]) == 0
    assert "starting the run from the beginning" in capsys.readouterr().err
    straight = train.train(quick(tmp_path / "a"))
    assert run_files(killed, False) == run_files(straight.run_dir, False)


def test_damaged_logs_do_not_stop_a_resume(tmp_path):
    def crash(learner, metrics):
        if learner.updates == 5:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        train.train(quick(tmp_path / "b"), on_update=crash)
    killed = str(tmp_path / "b" / "run")
    with open(os.path.join(killed, "metrics.jsonl"), "a") as f:
        f.write('{"update": 6, "env_ste')  # a line cut short by a kill
    with open(os.path.join(killed, "eval.json"), "w") as f:
        f.write('{"Foraging": {"5x5')
    assert train.main(["--resume", killed]) == 0
    straight = train.train(quick(tmp_path / "a"))
    assert run_files(killed, False) == run_files(straight.run_dir, False)


@pytest.mark.parametrize("seed", ["-1", str(10**20)])
def test_a_seed_out_of_range_is_named(seed):
    with pytest.raises(train.ConfigError, match=f"seed is out of range: got {seed}"):
        train.load_config(None, [f"seed={seed}"])


def test_overrides_may_come_after_import(capsys):
    assert train.main(["seed=1", "--import", "json", "--print-config", "algo=mfac"]) == 0
    out = capsys.readouterr().out
    assert "name: mfac" in out and "seed: 1" in out


def test_a_nan_at_the_first_update_does_not_claim_a_checkpoint(tmp_path):
    from toy_envs import CoordinationCore

    import envs

    envs.register("toy-nan-at-once-v0", CoordinationCore, kwargs={"nan_after": 1}, override=True)
    try:
        cfg = quick(tmp_path, "env.id=toy-nan-at-once-v0", "eval.every_env_steps=0")
        result = train.train(cfg)
    finally:
        envs._REGISTRY.pop("toy-nan-at-once-v0", None)
    assert result.status == "failed" and "update 1" in result.message
    assert "last good checkpoint" not in result.message
    assert "no checkpoint was written yet" in result.message


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_reported_as_one(tmp_path):
    def fill_disk(learner, metrics):
        if learner.updates == 3:  # checkpoint 4's temporary file goes to a full device
            tmp = os.path.join(learner_run_dir, "checkpoints", "update_0000004.pt.tmp")
            os.symlink("/dev/full", tmp)

    learner_run_dir = str(tmp_path / "run")
    result = train.train(quick(tmp_path), on_update=fill_disk)
    assert result.status == "failed" and "No space left on device" in result.message
    assert "last good checkpoint is kept" in result.message
    assert not os.path.lexists(
        os.path.join(learner_run_dir, "checkpoints", "update_0000004.pt.tmp")
    )
