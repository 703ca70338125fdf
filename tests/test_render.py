"""The render command: GIF/MP4 frame counts per family, the window mode, every policy source."""

import os
from typing import ClassVar

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
from pettingzoo import ParallelEnv

import envs
from agents.policy import Policy, PolicySpec
from algorithms.runs.render import main, parse_kwargs, play_episode, render_episode
from envs import register_scripted, scripted_policies
from tests.registered_ids import FAST_KWARGS, id_params

# (env id, kwargs that keep it small, the episode length those kwargs give)
FAMILIES = {
    "foraging": ("Foraging-5x5-2p-1f-coop-v3", {"max_episode_steps": 6}, 6),
    "swarming": ("swarming-vicsek-v0", {"num_agents": 12, "max_episode_steps": 5}, 5),
    "donor": ("donor-v0", {"num_agents": 4, "num_rounds": 3, "execution_error": 0.0}, 3),
    "routing": ("routing-braess-v0", {"max_days": 4}, 4),
}


def family(name):
    env_id = FAMILIES[name][0]
    try:
        envs.spec(env_id)
    except KeyError:
        pytest.skip(f"the {name} family is not registered yet")
    return FAMILIES[name]


def gif_frames(path) -> int:
    return iio.imread(path, index=None).shape[0]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_gif_holds_one_frame_per_step_plus_the_first(name, tmp_path):
    env_id, kwargs, _ = family(name)
    out = tmp_path / "episode.gif"
    episode = render_episode(env_id, "random", out=str(out), env_kwargs=kwargs, max_steps=3)
    assert episode.steps <= 3
    assert len(episode.frames) == episode.steps + 1
    assert gif_frames(out) == episode.steps + 1


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_an_episode_is_played_to_its_end(name, tmp_path):
    env_id, kwargs, length = family(name)
    if name == "foraging":
        kwargs = {**kwargs, "max_num_food": 1, "penalty": 0.0}
    episode = play_episode(env_id, "random", env_kwargs=kwargs, seed=3)
    assert episode.finished
    assert episode.steps <= length
    if name != "foraging":  # foraging may end early, when the food is eaten
        assert episode.steps == length
    assert len(episode.frames) == episode.steps + 1


def test_mp4_has_the_same_frames(tmp_path):
    env_id, kwargs, length = family("donor")
    out = tmp_path / "episode.mp4"
    render_episode(env_id, "scripted", out=str(out), env_kwargs=kwargs)
    frames = iio.imread(out, index=None, plugin="pyav" if _has_pyav() else None)
    assert frames.shape[0] == length + 1
    assert frames.shape[1] % 2 == 0 and frames.shape[2] % 2 == 0


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_window_mode_runs_headless():
    env_id, kwargs, length = family("donor")
    episode = render_episode(
        env_id, "scripted:always-cooperate", window=True, env_kwargs=kwargs, fps=1000
    )
    assert episode.frames == []
    assert episode.rendered == length + 1
    assert episode.metrics["cooperation_rate"] == pytest.approx(1.0)


def test_scripted_policies_drive_their_families():
    env_id, kwargs, _ = family("swarming")
    names = list(scripted_policies(envs.make_vec(env_id, 1, **kwargs)))
    assert names[0] == "vicsek"
    quiet = {"num_agents": 30, "noise": 0.05, "box_size": 3.0, "max_episode_steps": 60}
    ordered = play_episode(env_id, "scripted", env_kwargs=quiet, caption=False)
    random = play_episode(env_id, "random", env_kwargs=quiet, caption=False)
    assert ordered.metrics["order"] > 0.9 > random.metrics["order"]

    env_id, kwargs, _ = family("donor")
    defect = play_episode(env_id, "scripted:always-defect", env_kwargs=kwargs)
    assert defect.metrics["cooperation_rate"] == 0.0
    with pytest.raises(ValueError, match="available: always-cooperate"):
        play_episode(env_id, "scripted:tit-for-tat", env_kwargs=kwargs)


def test_a_family_without_scripted_policies_says_so():
    env_id, kwargs, _ = family("foraging")
    with pytest.raises(ValueError, match="no scripted policy"):
        play_episode(env_id, "scripted", env_kwargs=kwargs)
    with pytest.raises(ValueError, match="--policy must be"):
        play_episode(env_id, "greedy", env_kwargs=kwargs)


class PaintEnv(ParallelEnv):
    """A user's PettingZoo env: two agents colour a strip; it renders rgb_array frames."""

    metadata: ClassVar[dict] = {"name": "paint_v0", "render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, length: int = 4, render_mode: str | None = None):
        self.possible_agents = ["painter_0", "painter_1"]
        self.length, self.render_mode = length, render_mode
        self.t = 0
        self._obs_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._act_space = gym.spaces.Discrete(3)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return {a: np.zeros(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        obs = {a: np.full(1, self.t / self.length, np.float32) for a in self.agents}
        rewards = {a: float(actions[a] == 1) for a in self.agents}
        done = self.t >= self.length
        truncated = {a: done for a in self.agents}
        terminated = {a: False for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminated, truncated, infos

    def render(self):
        frame = np.full((16, 40, 3), 255, np.uint8)
        frame[:, : 10 * self.t] = (200, 30, 30)
        return frame


def test_a_users_parallel_env_renders(tmp_path):
    envs.register("test-paint-v0", parallel=PaintEnv, override=True)
    out = tmp_path / "paint.gif"
    assert main(["test-paint-v0", "length=3", "--out", str(out)]) == 0
    assert gif_frames(out) == 4
    # the generic path wraps the env in ParallelEnvBatch; scripted policies still key on the user's class
    register_scripted(PaintEnv, "always-one", lambda core: lambda obs, c: np.ones((1, 2), np.int64))
    episode = play_episode("test-paint-v0", "scripted", env_kwargs={"length": 3}, caption=False)
    assert episode.frames[0].shape == (16, 40, 3)
    assert episode.team_return == pytest.approx(2 * 3)


def test_scripted_policy_registered_for_a_users_core(tmp_path):
    from envs.donor import DonorCore

    register_scripted(
        DonorCore, "give-half", lambda core: lambda obs, c: np.full((1, c.num_agents), 2)
    )
    env_id, kwargs, _ = family("donor")
    episode = play_episode(env_id, "scripted:give-half", env_kwargs=kwargs)
    assert episode.metrics["donated_fraction"] == pytest.approx(0.5)


def test_checkpoint_policy_file_and_mismatch(tmp_path):
    env_id, kwargs, length = family("donor")
    core = envs.make_vec(env_id, 1, **kwargs)
    policy = Policy(PolicySpec.for_env(core))
    path = tmp_path / "policy.pt"
    policy.save(path, {"env_id": env_id, "env_kwargs": kwargs})
    out = tmp_path / "trained.gif"
    assert (
        main(["--checkpoint", str(path), "--out", str(out)]) == 0
    )  # env id and kwargs from the file
    assert gif_frames(out) == length + 1
    with pytest.raises(ValueError, match="observation size"):
        render_episode(
            "Foraging-5x5-2p-1f-coop-v3", checkpoint=str(path), env_kwargs={}, out=str(out)
        )


def test_training_checkpoint_with_and_without_policy_file(tmp_path):
    import train

    cfg = train.load_config(
        None,
        [
            "algo=mfq",
            "env.id=donor-v0",
            "env.kwargs.num_agents=4",
            "env.kwargs.num_rounds=3",
            "env.num_envs=2",
            "total_env_steps=24",
            "eval.episodes=1",
            "eval.absolute_episodes=0",
            "eval.every_env_steps=0",
            "log.progress=false",
            "log.tensorboard=false",
            f"log.dir={tmp_path}",
            "run_name=mfq",
        ],
    )
    result = train.train(cfg)
    policy_file = os.path.join(result.run_dir, "policy.pt")
    assert os.path.exists(policy_file)  # MF-Q's standalone policy carries the mean action
    assert render_episode(checkpoint=policy_file, out=str(tmp_path / "policy.gif")).finished
    os.remove(policy_file)  # a learner without one (MANSA's switch=act) renders from the checkpoint
    out = tmp_path / "mfq.gif"
    episode = render_episode(checkpoint=result.run_dir, out=str(out))
    assert episode.finished and gif_frames(out) == 4


def test_command_line_errors(tmp_path, capsys):
    assert main(["donor-v0", "--out", str(tmp_path / "x.png")]) == 2
    assert "must end in .gif or .mp4" in capsys.readouterr().err
    assert main(["donor-v0"]) == 2
    assert "exactly one of --out" in capsys.readouterr().err
    assert main(["no-such-env-v0", "--out", str(tmp_path / "x.gif")]) == 2
    assert "unknown env id" in capsys.readouterr().err
    assert main(["donor-v0", "num_agents", "--out", str(tmp_path / "x.gif")]) == 2
    assert "key=value" in capsys.readouterr().err
    assert main(["--list-policies", "donor-v0"]) == 0
    assert "scripted:always-cooperate" in capsys.readouterr().out


def test_parse_kwargs_reads_yaml_values():
    assert parse_kwargs(["n=3", "noise=0.5", "norm=stern_judging", "flag=true", "size=[8, 8]"]) == {
        "n": 3,
        "noise": 0.5,
        "norm": "stern_judging",
        "flag": True,
        "size": [8, 8],
    }


# the two large road networks solve their user equilibrium on first use (seconds): routing's tests cover them
SLOW_IDS = {"routing-siouxfalls-v0", "routing-anaheim-v0"}


@pytest.mark.parametrize(
    "env_id", id_params([e for e in envs.list_envs(aliases=True) if e not in SLOW_IDS])
)
def test_every_registered_env_renders_a_gif(env_id, tmp_path):
    out = tmp_path / "one.gif"
    kwargs = FAST_KWARGS.get(env_id, {})
    episode = render_episode(env_id, "random", out=str(out), env_kwargs=kwargs, max_steps=1)
    assert gif_frames(out) == episode.steps + 1 == 2
