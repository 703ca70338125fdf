"""Play one episode of any registered env and watch it: a pygame window, a GIF or an MP4.

    python -m algorithms.runs.render Foraging-8x8-2p-2f-coop-v3 --out episode.gif   # random policy
    python -m algorithms.runs.render swarming-vicsek-v0 num_agents=200 --policy scripted --out flock.mp4
    python -m algorithms.runs.render donor-v0 --policy scripted:always-defect --window
    python -m algorithms.runs.render --checkpoint runs/<name> --out trained.gif      # env from the run
    python -m algorithms.runs.render --list-policies swarming-vicsek-v0

The env id (with ``key=value`` keyword arguments, values read as YAML) is any id or alias of
the registry, including a user's own env registered with ``envs.register(id, core=...)`` or
``envs.register(id, parallel=...)``: the episode is played through the batched interface
(``envs.make_vec(id, 1, autoreset=False, render_mode=...)``), which every entry offers, and
frames come from the env's own ``render()`` (``"rgb_array"`` for files, ``"human"`` for the
window). A policy is one of:

- ``random`` (default): uniform over the allowed actions (the action mask) or the Box.
- ``scripted[:name]``: a family's scripted reference policy (``--list-policies ENV_ID``
  names them; the first is the default): the Vicsek rule for swarming, always-cooperate and
  the other classic strategies for the donor game, user-equilibrium routes and day-to-day
  best response for routing. Each family registers its own (:mod:`envs.scripted`);
  :func:`envs.register_scripted` adds one for a user's env.
- ``--checkpoint``: a run directory (its ``policy.pt``; ``--best`` takes ``policy_best.pt``),
  a policy file, an acting file (what PMA and MANSA write there instead: the learner is rebuilt
  from the config inside it) or a training checkpoint (``checkpoints/update_*.pt``). The env
  id and keyword arguments default to the run's.

Files get a caption strip under each frame (env id, step, team return so far), so every
frame differs and GIF writers keep them all: an episode of T steps gives T + 1 frames
(the first observation, then one per step), fewer if ``--max-steps`` stops it early.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

import envs
from agents.policy import Policy
from algorithms.runs import acting
from algorithms.runs.checkpoint import load_checkpoint
from algorithms.runs.config import CONFIG_FILE, build, load_config
from envs.scripted import ScriptedAct, env_class, scripted_policies

#: ``act(obs [1, N, ...], core) -> actions [1, N] (or [1, N, D])``
RenderPolicy = ScriptedAct

CAPTION_SIZE = 18  # the caption's font size
CAPTION_LINE = 16  # pixels per caption line
CAPTION_MARGIN = 4  # pixels left of the caption text
VIDEO_SUFFIXES = (".gif", ".mp4")


# ---------------------------------------------------------------------- policies
def random_policy(core: Any, seed: int | None = 0) -> RenderPolicy:
    """Uniform random actions: over the action mask (discrete) or the Box (continuous)."""
    rng = np.random.default_rng(seed)
    space = core.action_space
    if isinstance(space, gym.spaces.Discrete):

        def act(obs, c):
            mask = c.action_mask()
            scores = np.where(mask, rng.random(mask.shape), -1.0)
            return scores.argmax(axis=-1) + int(space.start)

        return act
    if isinstance(space, gym.spaces.Box):
        shape = (core.num_envs, core.num_agents, *space.shape)
        return lambda obs, c: rng.uniform(space.low, space.high, size=shape).astype(np.float32)
    raise TypeError(f"random policy: unsupported action space {space}")


def _policy_from_file(policy, core: Any) -> RenderPolicy:
    """Wrap an :class:`agents.policy.Policy`, checking that it fits the env."""
    spec = policy.spec
    obs_dim = int(np.prod(core.observation_space.shape))
    if (spec.obs_dim, spec.num_agents) != (obs_dim, core.num_agents):
        origin = policy.metadata.get("env_id", "another env")
        raise ValueError(
            f"the policy was trained on {origin} (observation size {spec.obs_dim}, {spec.num_agents} agents) "
            f"but this env has observation size {obs_dim} and {core.num_agents} agents; "
            "give the run's env id and keyword arguments (or none, to use the run's)"
        )
    hidden = None

    def act(obs, c):
        nonlocal hidden
        mask = c.action_mask() if c.is_discrete else None
        actions, hidden = policy.act(obs, mask, hidden, greedy=True)
        return actions

    return act


def _learner_policy(source: acting.CheckpointSource, core: Any) -> RenderPolicy:
    """Rebuild the run's learner from its training checkpoint (or an acting file, which holds
    the config and the policy) and act greedily with it."""
    if source.kind == "acting":
        learner = acting.learner_from_file(source.path, ["torch_threads=0"])
    else:
        cfg = load_config(os.path.join(source.run_dir, CONFIG_FILE), ["torch_threads=0"])
        _, learner = build(cfg)
        learner.load_state_dict(load_checkpoint(source.path, cfg)["learner"])
    hidden = None

    def act(obs, c):
        nonlocal hidden
        mask = c.action_mask() if c.is_discrete else None
        state = c.state() if learner.act_needs_state else None
        actions, hidden = learner.act(obs, mask, state, hidden, greedy=True)
        return actions

    return act


def make_policy(
    policy: str, core: Any, seed: int | None = 0, checkpoint: acting.CheckpointSource | None = None
) -> RenderPolicy:
    """The acting function for ``policy`` (``random``, ``scripted[:name]``) or a checkpoint."""
    if checkpoint is not None:
        if checkpoint.kind in ("training", "acting"):
            return _learner_policy(checkpoint, core)
        return _policy_from_file(Policy.load(checkpoint.path), core)
    if policy == "random":
        return random_policy(core, seed)
    if policy == "scripted" or policy.startswith("scripted:"):
        available = scripted_policies(core)
        if not available:
            raise ValueError(
                f"no scripted policy is known for {env_class(core).__name__}; "
                "use --policy random, a checkpoint, or envs.register_scripted()"
            )
        name = policy.partition(":")[2] or next(iter(available))
        if name not in available:
            raise ValueError(
                f"unknown scripted policy {name!r} for {env_class(core).__name__}; "
                f"available: {', '.join(available)}"
            )
        return available[name](core)
    raise ValueError(
        f"--policy must be 'random', 'scripted' or 'scripted:<name>', got {policy!r} "
        "(use --checkpoint for a trained policy)"
    )


# ---------------------------------------------------------------------- playing
@dataclass
class Episode:
    """What :func:`play_episode` saw: frames (file modes), the team return, steps and metrics."""

    frames: list[np.ndarray] = field(default_factory=list)
    team_return: float = 0.0
    steps: int = 0
    finished: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    rendered: int = 0
    fps: float = 10.0


def caption_layout(frame_width: int, widest: Sequence[str]) -> tuple[int, int]:
    """``(width, lines)`` of an episode's caption strip, fixed so every frame keeps one size: the
    parts on one line if the widest caption fits, else a part per line, on a frame widened
    (white margin) where it is narrower than the widest part."""
    import pygame

    pygame.font.init()
    font = pygame.font.Font(None, CAPTION_SIZE)
    if font.size("  ".join(widest))[0] + 2 * CAPTION_MARGIN <= frame_width:
        return frame_width, 1
    return max(frame_width, max(font.size(p)[0] for p in widest) + 2 * CAPTION_MARGIN), len(widest)


def _caption(frame: np.ndarray, parts: Sequence[str], layout: tuple[int, int]) -> np.ndarray:
    """``frame`` with a strip of text under it (drawn on the shared pygame canvas)."""
    import pygame

    from envs.rendering import Canvas

    (width, lines), height = layout, frame.shape[0]
    canvas = Canvas(width, height + lines * CAPTION_LINE + 6, "rgb_array")
    canvas.surface.fill((255, 255, 255))
    canvas.surface.blit(
        pygame.surfarray.make_surface(np.ascontiguousarray(frame[..., :3].transpose(1, 0, 2))),
        (0, 0),
    )
    for k, line in enumerate(["  ".join(parts)] if lines == 1 else parts):
        canvas.text(line, (CAPTION_MARGIN, height + 4 + k * CAPTION_LINE), size=CAPTION_SIZE)
    return canvas.present()


def _check_frame(frame: Any, env_id: str) -> np.ndarray:
    if frame is None:
        raise ValueError(
            f"{env_id} returned no frame from render(); it must support render_mode='rgb_array'"
        )
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(
            f"{env_id} rendered an array of shape {frame.shape}; expected [H, W, 3] (RGB)"
        )
    return frame[..., :3].astype(np.uint8)


def play_episode(
    env_id: str,
    policy: str = "random",
    *,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    window: bool = False,
    caption: bool = True,
    checkpoint: acting.CheckpointSource | None = None,
    step_limit: int = 100_000,
) -> Episode:
    """Play one episode of ``env_id`` (copy 0, seeded ``seed``) and collect its frames.

    Args:
        env_id: a registered id or alias.
        policy: ``"random"`` or ``"scripted[:name]"`` (ignored when ``checkpoint`` is given).
        env_kwargs: keyword arguments for the env.
        seed: the env seed (and the random policy's).
        max_steps: stop after this many steps even if the episode goes on (None: play it out).
        window: draw to a pygame window (``render_mode="human"``) instead of collecting frames.
        caption: add the caption strip to collected frames.
        checkpoint: play a trained policy (:func:`algorithms.runs.acting.resolve_checkpoint`).
        step_limit: the longest episode played without ``max_steps`` (an error past it).
    """
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    kwargs = dict(env_kwargs or {})
    core = envs.make_vec(
        env_id, 1, autoreset=False, render_mode="human" if window else "rgb_array", **kwargs
    )
    episode = Episode(fps=float((getattr(core, "metadata", None) or {}).get("render_fps") or 10))
    try:
        act = make_policy(policy, core, seed, checkpoint)
        obs, _ = core.reset(seed=seed)
        limit = step_limit if max_steps is None else max_steps

        layout = None
        widest = (env_id, f"step {limit if limit < step_limit else 99999}", "return -88888.888")

        def show():
            nonlocal layout
            frame = core.render(0)
            episode.rendered += 1
            if not window:
                frame = _check_frame(frame, env_id)
                if caption:
                    layout = layout or caption_layout(frame.shape[1], widest)
                    parts = (env_id, f"step {episode.steps}", f"return {episode.team_return:.3f}")
                    frame = _caption(frame, parts, layout)
                episode.frames.append(frame)

        show()
        aggregate = np.sum if getattr(core, "team_reward", "sum") == "sum" else np.mean
        while episode.steps < limit:
            obs, rewards, terminated, truncated, info = core.step(act(obs, core))
            episode.steps += 1
            episode.team_return += float(aggregate(rewards[0]))
            show()
            if np.logical_or(terminated, truncated).all():
                episode.finished = True
                stats = info.get("episode", {})
                episode.metrics = {
                    k: float(v[0])
                    for k, v in stats.items()
                    if np.ndim(v) == 1 and k not in ("return", "length")
                }
                break
        else:
            if max_steps is None:
                raise RuntimeError(f"the episode ran past {step_limit} steps; give --max-steps")
    finally:
        core.close()
    return episode


def write_video(frames: Sequence[np.ndarray], path: str, fps: float) -> None:
    """Write frames to ``path``: a looping GIF, or an H.264 MP4 (frames padded to even sizes)."""
    import imageio.v2 as imageio

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"--out must end in {' or '.join(VIDEO_SUFFIXES)}, got {path!r}")
    if not frames:
        raise ValueError("no frames to write")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if suffix == ".gif":
        imageio.mimsave(path, list(frames), duration=1000.0 / fps, loop=0)
        return
    height, width = frames[0].shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    imageio.mimsave(
        path,
        [np.pad(f, pad, mode="edge") for f in frames],
        fps=fps,
        macro_block_size=1,
        codec="libx264",
        pixelformat="yuv420p",
    )


def render_episode(
    env_id: str | None = None,
    policy: str = "random",
    *,
    out: str | None = None,
    window: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    fps: float | None = None,
    checkpoint: str | None = None,
    best: bool = False,
    caption: bool = True,
) -> Episode:
    """Play an episode and write it to ``out`` (GIF/MP4) or show it in a window: the command's body.

    With ``checkpoint`` the env id and keyword arguments default to the run's; keyword
    arguments given here override the run's (another env id starts from no keyword arguments).
    """
    if (out is None) == (not window):
        raise ValueError("give exactly one of --out FILE (.gif or .mp4) and --window")
    if out is not None and os.path.splitext(out)[1].lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--out must end in {' or '.join(VIDEO_SUFFIXES)}, got {out!r}")
    source = acting.resolve_checkpoint(checkpoint, best) if checkpoint else None
    kwargs = dict(env_kwargs or {})
    if source is not None and env_id in (
        None,
        source.env_id,
    ):  # the run's env, with any kwargs given here on top
        kwargs = {**source.env_kwargs, **kwargs}
        env_id = source.env_id
    if env_id is None:
        raise ValueError("give an env id (or a --checkpoint whose run names one)")
    episode = play_episode(
        env_id,
        policy,
        env_kwargs=kwargs,
        seed=seed,
        max_steps=max_steps,
        window=window,
        caption=caption,
        checkpoint=source,
    )
    if out is not None:
        write_video(episode.frames, out, fps or episode.fps)
    return episode


# ---------------------------------------------------------------------- command line
def parse_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """``["num_agents=20", "norm=stern_judging"]`` -> keyword arguments (values read as YAML)."""
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(
                f"env keyword argument {item!r} must have the form key=value (e.g. num_agents=20)"
            )
        kwargs[key] = yaml.safe_load(value) if value else ""
    return kwargs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m algorithms.runs.render",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "env_id",
        nargs="?",
        help="registered env id or alias (default with --checkpoint: the run's)",
    )
    parser.add_argument("kwargs", nargs="*", metavar="key=value", help="env keyword arguments")
    parser.add_argument(
        "--policy", default="random", help="random (default), scripted or scripted:<name>"
    )
    parser.add_argument(
        "--checkpoint", help="run directory, policy file or training checkpoint to play"
    )
    parser.add_argument(
        "--best", action="store_true", help="with a run directory: play policy_best.pt"
    )
    parser.add_argument("--out", help="write the episode to this .gif or .mp4 file")
    parser.add_argument("--window", action="store_true", help="show the episode in a pygame window")
    parser.add_argument("--seed", type=int, default=0, help="env (and random policy) seed")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument(
        "--fps", type=float, help="frames per second (default: the env's render_fps)"
    )
    parser.add_argument(
        "--no-caption", action="store_true", help="no caption strip under the frames"
    )
    parser.add_argument(
        "--list-policies", action="store_true", help="list the scripted policies of ENV_ID"
    )
    envs.add_import_option(parser, "first")
    args = parser.parse_args(argv)
    items = list(args.kwargs)
    if args.env_id and "=" in args.env_id:
        items.insert(0, args.env_id)
        args.env_id = None
    try:
        envs.import_env_modules(args.imports)
        kwargs = parse_kwargs(items)
        if args.checkpoint:
            import torch

            torch.set_num_threads(1)  # a small policy network: more threads only contend
        if args.list_policies:
            if not args.env_id:
                raise ValueError("--list-policies needs an env id")
            core = envs.make_vec(args.env_id, 1, **kwargs)
            names = list(scripted_policies(core))
            core.close()
            print("\n".join(["random"] + [f"scripted:{n}" for n in names]))
            return 0
        episode = render_episode(
            args.env_id,
            args.policy,
            out=args.out,
            window=args.window,
            env_kwargs=kwargs,
            seed=args.seed,
            max_steps=args.max_steps,
            fps=args.fps,
            checkpoint=args.checkpoint,
            best=args.best,
            caption=not args.no_caption,
        )
    except (ValueError, KeyError, TypeError, ImportError, FileNotFoundError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
    where = args.out or "window"
    ended = "episode ended" if episode.finished else "stopped early"
    print(
        f"{episode.steps} steps ({ended}), team return {episode.team_return:.4f}, "
        f"{episode.rendered} frames -> {where}"
    )
    for key, value in episode.metrics.items():
        print(f"  {key}: {value:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
