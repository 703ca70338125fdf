"""The scripted rule's order-noise curve phi(eta), and which action spaces can express it.

For the phase-transition study of issue 23: at N = 100 agents and density rho = 4 (L = 5) the
scripted Vicsek rule plays through several action spaces of the swarming env, at noise
eta = 0, 0.5, ..., 5, in the Vicsek model (headings) and the Kuramoto model (phases). Each point
is the order parameter averaged over the second half of ``--steps`` steps (the stationary part)
and over ``--copies`` env copies from random starts. The rule is the exact one
(:func:`envs.swarming.policies.vicsek_actions`, reading the true angles) or the one read from
observations (:class:`envs.swarming.policies.VicsekPolicy`, what a learned policy could see).

    python benchmarks/swarming_phase.py                    # print the table
    python benchmarks/swarming_phase.py --save             # + benchmarks/results/swarming_phase/
    python benchmarks/swarming_phase.py --policy runs/<name>/policy.pt   # + a trained policy

A trained policy plays greedily in its own action space (its run's env keywords), at every
noise: the Vicsek rule does not depend on the noise, so one policy can be measured along the
whole curve.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

import envs
from agents.policy import Policy
from envs.swarming.policies import VicsekPolicy, vicsek_actions

OUT = Path(__file__).resolve().parent / "results" / "swarming_phase"
NOISES = [round(0.5 * k, 1) for k in range(11)]
TASK = {"num_agents": 100, "box_size": 5.0}  # rho = 4, the classic density
#: label -> (env keyword arguments of the action space, rule)
SPACES = {
    "exact rule, continuous +-pi": ({"actions": "continuous", "max_turn": np.pi}, "exact"),
    "exact rule, 25 turns +-pi": ({"num_turns": 25, "max_turn": np.pi}, "exact"),
    "exact rule, default 7 turns +-pi/4": ({}, "exact"),
    "observed rule, continuous +-pi": ({"actions": "continuous", "max_turn": np.pi}, "observed"),
}


def order_curve(model: str, space: dict, rule: str, steps: int, copies: int, seed: int) -> list:
    """The scripted rule's mean order over the second half of ``steps`` at each noise."""
    if rule == "observed":
        return played_curve(model, space, lambda core: VicsekPolicy(core), steps, copies, seed)
    return played_curve(
        model, space, lambda core: lambda obs: vicsek_actions(core), steps, copies, seed
    )


def policy_space(policy: Policy) -> dict:
    """A trained policy's own env keywords (action space, reward) less those :data:`TASK`, the
    noise and the episode length fix here."""
    kwargs = policy.metadata.get("env_kwargs") or {}
    return {k: v for k, v in kwargs.items() if k not in ("noise", *TASK, "max_episode_steps")}


def policy_curve(path: str, steps: int, copies: int, seed: int) -> tuple[str, list]:
    """A trained policy file's model and curve, played greedily in its own action space (the
    run's env keywords) on :data:`TASK` at every noise of :data:`NOISES`."""
    policy = Policy.load(path)
    model = str(policy.metadata.get("env_id", "swarming-vicsek-v0")).split("-")[1]
    space = policy_space(policy)

    def actor(core):
        hidden = None

        def act(obs):
            nonlocal hidden
            mask = core.action_mask() if core.is_discrete else None
            actions, hidden = policy.act(obs, mask, hidden, greedy=True)
            return actions

        return act

    return model, played_curve(model, space, actor, steps, copies, seed)


def played_curve(model: str, space: dict, actor, steps: int, copies: int, seed: int) -> list:
    """The mean order over the second half of ``steps`` and the copies, at each noise, of
    ``actor(core)`` (a function of the observations) on :data:`TASK` with ``space``."""
    curve = []
    for noise in NOISES:
        core = envs.make_vec(
            f"swarming-{model}-v0", copies, noise=noise, max_episode_steps=steps, **TASK, **space
        )
        obs, _ = core.reset(seed=seed)
        act, orders = actor(core), []
        for t in range(steps):
            obs, _, _, _, info = core.step(act(obs))
            if t >= steps // 2:
                orders.append(np.asarray(info["order"], dtype=np.float64))
        curve.append(float(np.mean(orders)))
    return curve


def table(results: dict) -> str:
    lines = []
    for model, curves in results.items():
        lines += [f"## {model}: order (mean over the second half of the steps) at noise eta", ""]
        lines.append("| action space and rule | " + " | ".join(f"{n:g}" for n in NOISES) + " |")
        lines.append("|---|" + "---:|" * len(NOISES))
        for label, curve in curves.items():
            lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in curve) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), sharey=True)
    for ax, (model, curves) in zip(np.atleast_1d(axes), results.items()):
        for label, curve in curves.items():
            ax.plot(NOISES, curve, marker="o", markersize=3, label=label)
        ax.set(xlabel="noise eta", title=f"{model}, N = 100, rho = 4", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("order parameter (stationary mean)")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=400, help="steps per episode (400)")
    parser.add_argument("--copies", type=int, default=16, help="env copies per point (16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--policy", nargs="+", default=[], metavar="FILE", help="policy files to add"
    )
    parser.add_argument("--save", action="store_true", help=f"write {OUT}")
    args = parser.parse_args(argv)
    results = {
        model: {
            label: order_curve(model, space, rule, args.steps, args.copies, args.seed)
            for label, (space, rule) in SPACES.items()
        }
        for model in ("vicsek", "kuramoto")
    }
    for path in args.policy:
        model, curve = policy_curve(path, args.steps, args.copies, args.seed)
        results[model][f"policy {path}"] = curve
    text = table(results)
    print(text)
    if args.save:
        OUT.mkdir(parents=True, exist_ok=True)
        payload = {"noises": NOISES, "task": TASK, "args": vars(args), "order": results}
        (OUT / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
        (OUT / "results.md").write_text(text)
        plot(results, OUT / "phase.png")
        print(f"saved to {OUT}")


if __name__ == "__main__":
    main()
