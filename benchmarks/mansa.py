"""MANSA against IL alone and CL alone on Level-Based Foraging: return, CL-call fraction, wall-clock.

    python -m benchmarks.mansa                                        # the issue's grid (long: 2 tasks x 5 seeds x 3)
    python -m benchmarks.mansa --env-steps 200000 --seeds 0 1 --jobs 2
    python -m benchmarks.mansa --pairing policy                       # IPPO / MAPPO instead of IQL / QMIX
    python -m benchmarks.mansa --plots-only                           # redraw from results.json

Every (task, seed) trains three learners for the same number of env steps, through
``train.load_config`` / ``train.build`` as ``train.py`` does, with torch on one thread: MANSA
(``algo=mansa``), its IL learner alone and its CL learner alone. ``--il-set`` / ``--cl-set``
change a sub-learner's hyperparameters in both places (alone and inside MANSA), ``--mansa-set``
MANSA's own (cost, budget, switcher). Each run ends with ``--eval-episodes`` greedy episodes on
fixed seeds (MANSA: its joint policy, switcher included, with the per-episode budget).

Written to ``--out``: ``results.json`` (every run: final return, CL-call fractions in training
and at evaluation, wall-clock split, learning curve, CL calls by episode step, agent positions
at CL calls; for MANSA also the returns of its parts on the same final episodes, see
:func:`parts_table`, and per curve window the peak Q of each value learner), ``results.md``
(mean ± std over seeds and the issue's target: MANSA uses at most 5% CL calls and returns at
least max(IL, CL) - 0.05), and per task ``<task>_curves.png``
(greedy return against env steps, MANSA's CL fraction), ``<task>_cl_steps.png`` (where in the
episode CL was called) and ``<task>_cl_grid.png`` (where on the grid the agents stood when it was).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from agents.files import atomic_path, write_text_atomic

TASKS = ("Foraging-8x8-2p-2f-coop-v3", "Foraging-2s-8x8-2p-2f-coop-v3")
PAIRINGS = {"value": ("iql", "qmix"), "policy": ("ippo", "mappo")}
METHODS = ("mansa", "il", "cl")
SIDES = ("cl", "il")  #: MANSA's two learners, as its metrics name them (losses/<side>/...)
#: MANSA's defaults here: 2 CL calls per episode (4% of a 50-step episode, more once episodes end sooner), cost 0.01 per call
MANSA_DEFAULTS = ("cost=0.01", "budget=2", "budget_scope=episode")
TARGET_FRACTION, TARGET_GAP = 0.05, 0.05
LATE_POINTS = 3


def overrides_for(job: dict) -> list[str]:
    """The ``train.py`` overrides of one run."""
    il, cl = PAIRINGS[job["pairing"]]
    base = [f"env.id={job['env']}", f"env.num_envs={job['num_envs']}", f"seed={job['seed']}"]
    if job["method"] == "il":
        return [*base, f"algo={il}", *(f"algo.{kv}" for kv in job["il_set"])]
    if job["method"] == "cl":
        return [*base, f"algo={cl}", *(f"algo.{kv}" for kv in job["cl_set"])]
    return [
        *base,
        "algo=mansa",
        f"algo.il={il}",
        f"algo.cl={cl}",
        *(f"algo.{kv}" for kv in job["mansa_set"]),
        *(f"algo.il_cfg.{kv}" for kv in job["il_set"]),
        *(f"algo.cl_cfg.{kv}" for kv in job["cl_set"]),
    ]


def run_one(job: dict) -> dict:
    """Train one (task, method, seed), evaluate it greedily; figures, learning curve, where CL was called."""
    import torch

    torch.set_num_threads(1)
    import envs
    from algorithms import NonFiniteLossError
    from algorithms.mansa import MANSALearner
    from train import build, load_config

    cfg = load_config(None, overrides_for(job))
    env, learner = build(cfg)
    env_id = job["env"]
    is_mansa = isinstance(learner, MANSALearner)
    grid = None
    if is_mansa and hasattr(env, "pos") and hasattr(env, "rows"):
        grid = np.zeros((env.rows, env.cols), dtype=np.int64)

        def record(core, cl, step):  # where the agents stand when CL is called
            pos = core.pos[cl].reshape(-1, 2)
            np.add.at(grid, (pos[:, 0], pos[:, 1]), 1)

        learner.call_recorder = record

    def greedy_switcher(
        obs, mask, state, hidden
    ):  # MANSA's headline and curve figures: its switcher greedy too
        return learner.act(obs, mask, state, hidden, switcher_greedy=True)

    def greedy(
        episodes: int, player=greedy_switcher if is_mansa else learner.act
    ) -> tuple[float, float | None]:
        """Mean greedy return of ``player``, and for MANSA the fraction of its steps that called CL."""
        results, fraction = evaluate_calls(
            player,
            lambda b: envs.make_vec(env_id, b),
            episodes,
            10_000 + job["seed"],
            needs_state=learner.act_needs_state,
        )
        return float(np.mean(results["return"])), (fraction if is_mansa else None)

    curve, returns, train_time, next_eval = [], [], 0.0, job["eval_every"]
    window_calls, window_steps, window_q = 0, 0, {side: [] for side in SIDES}

    def record(**figures) -> dict:
        """The run's identity, its env steps and curve so far, and ``figures``."""
        return {
            **{k: job[k] for k in ("env", "method", "seed", "num_envs", "pairing")},
            "algo": cfg.algo.name,
            "overrides": overrides_for(job),
            "env_steps": learner.env_steps,
            "curve": curve,
            **figures,
        }

    while learner.env_steps < job["env_steps"]:
        tick = time.perf_counter()
        try:
            metrics = learner.train_iteration()
        except NonFiniteLossError as error:  # a failed run is recorded with its curve so far
            return record(error=str(error))
        train_time += time.perf_counter() - tick
        returns.extend(learner.episodes.drain().get("return", []))
        if is_mansa:
            window_calls += metrics["mansa/cl_fraction"] * job["num_envs"] * learner.length
            window_steps += job["num_envs"] * learner.length
            for side, values in window_q.items():  # value learners: how large their Q-values grow
                if f"losses/{side}/q_taken" in metrics:
                    values.append(metrics[f"losses/{side}/q_taken"])
        if job["eval_every"] and learner.env_steps >= next_eval:
            ret, eval_fraction = greedy(job["curve_episodes"])
            curve.append(
                {
                    "env_steps": learner.env_steps,
                    "greedy_return": ret,
                    "eval_cl_fraction": eval_fraction,
                    "train_return": float(np.mean(returns[-200:])) if returns else None,
                    "train_cl_fraction": window_calls / window_steps if is_mansa else None,
                    "train_seconds": train_time,
                    **{
                        f"{side}_q_taken_max": max(v) if v else None for side, v in window_q.items()
                    },
                }
            )
            window_calls, window_steps, window_q = 0, 0, {side: [] for side in SIDES}
            next_eval += job["eval_every"]
    final, eval_fraction = greedy(job["eval_episodes"])
    run = record(
        train_seconds=train_time,
        sps=learner.env_steps / max(train_time, 1e-9),
        final_greedy_return=final,
    )
    if is_mansa:
        run.update(
            train_cl_fraction=learner.cl_calls / learner.env_steps,
            eval_cl_fraction=eval_fraction,
            timers=dict(learner.timers),
            cl_calls_by_step=learner.cl_calls_by_step.tolist(),
            cl_grid=grid.tolist() if grid is not None else None,
        )
        # MANSA's parts, on the same evaluation episodes: a sampled switcher; the same rate of calls
        # at random steps, to CL or to random joint actions (is it where the switcher calls that
        # counts, or that IL's greedy play is broken up?); each learner alone
        run["final_sampled_switcher_return"], rate = greedy(
            job["eval_episodes"], learner.act
        )  # act's default
        run["eval_sampled_cl_fraction"] = rate
        run["final_part_returns"] = {
            name: greedy(job["eval_episodes"], p)[0] for name, p in learners_alone(learner).items()
        }
        run["eval_control_fractions"] = {}
        players = {
            **random_step_players(learner, rate, job["seed"]),
            "cl_when_stalled": stalled_step_player(learner),
        }
        for name, player in players.items():
            run["final_part_returns"][name], run["eval_control_fractions"][name] = greedy(
                job["eval_episodes"], player
            )
    return run


def evaluate_calls(
    player, make_env, episodes: int, seed: int, needs_state: bool
) -> tuple[dict, float]:
    """:func:`agents.evaluation.evaluate` of ``player``, and the share of the evaluated episodes'
    steps whose ``SwitchMemory`` says CL was called. Only the counted episodes' steps count: a
    copy whose episode has ended plays on until every copy's has, and those steps are not figures."""
    from agents.evaluation import evaluate
    from algorithms.mansa import SwitchMemory

    live = [np.zeros(0, dtype=bool)]  # copies of the current chunk still in their first episode
    calls, steps = [0], [0]

    def tracked_env(copies: int):
        env = make_env(copies)
        live[0] = np.ones(copies, dtype=bool)
        step = env.step

        def step_and_track(actions):
            out = step(actions)
            if "_final" in out[4]:
                live[0] &= ~out[4]["_final"]
            return out

        env.step = step_and_track
        return env

    def act(obs, mask, state, hidden):
        counted = live[0].copy()
        actions, hidden = player(obs, mask, state, hidden)
        if isinstance(hidden, SwitchMemory):
            calls[0] += int(hidden.cl[counted].sum())
            steps[0] += int(counted.sum())
        return actions, hidden

    results = evaluate(act, tracked_env, episodes, seed, needs_state=needs_state)
    return results, calls[0] / max(steps[0], 1)


def learners_alone(learner) -> dict:
    """MANSA's IL and CL learners, each playing every step alone (greedily): what its parts can do."""
    return {
        "il": lambda obs, mask, state, hidden: (learner.il.greedy(obs, mask, state, True), hidden),
        "cl": lambda obs, mask, state, hidden: (learner.cl.greedy(obs, mask, state, True), hidden),
    }


def scripted_player(learner, when, pick):
    """A scripted switcher: IL's greedy joint action, except on the steps ``when(copies, stall)``
    marks (``[B]`` bool; ``stall``: steps the joint observation has repeated), within MANSA's budget
    and counted as calls, where the joint action is ``pick(obs, mask, state)``."""
    from algorithms.mansa import SwitchMemory

    def act(obs, mask, state, hidden):
        hidden = learner.initial_memory(len(obs)) if hidden is None else hidden
        stall = hidden.stall_of(obs)
        cl = when(len(obs), stall) & (hidden.calls_left > 0)
        actions = np.array(learner.il.greedy(obs, mask, state, True))
        if cl.any():
            actions[cl] = pick(obs[cl], mask[cl], state[cl])
        return actions, SwitchMemory(hidden.calls_left - cl, cl, np.array(obs, copy=True), stall)

    return act


def _cl_greedy(learner):
    return lambda obs, mask, state: learner.cl.greedy(obs, mask, state, True)


def random_step_players(learner, rate: float, seed: int) -> dict:
    """Controls for a switcher: IL's greedy joint action, except on steps drawn with probability
    ``rate`` (within MANSA's budget, counted as calls), where the joint action is CL's greedy one
    (``cl_random_steps``) or uniformly random over the valid actions (``random_random_steps``)."""
    cl_rng, random_rng = np.random.default_rng(seed + 1), np.random.default_rng(seed + 2)

    def uniform(obs, mask, state):
        cumulative = np.cumsum(mask / mask.sum(-1, keepdims=True), axis=-1)
        return (random_rng.random(mask.shape[:-1])[..., None] < cumulative).argmax(-1)

    return {
        "cl_random_steps": scripted_player(
            learner, lambda n, stall: cl_rng.random(n) < rate, _cl_greedy(learner)
        ),
        "random_random_steps": scripted_player(
            learner, lambda n, stall: random_rng.random(n) < rate, uniform
        ),
    }


def stalled_step_player(learner):
    """A scripted switcher: IL's greedy joint action, CL's greedy one on steps where the joint
    observation is the same as the last step's (within MANSA's budget, counted as calls). Greedy IL
    can freeze on LBF (the observations repeat, and so do its actions): what calling CL only then is worth."""
    return scripted_player(learner, lambda n, stall: stall > 0, _cl_greedy(learner))


# ---------------------------------------------------------------------- summary
def _mean_std(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.3f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.3f}"


def _late_return(run: dict) -> float:
    """Mean greedy return over the last ``LATE_POINTS`` curve points and the final evaluation (less noisy
    than the final point alone: greedy LBF policies swing between evaluations)."""
    points = [p["greedy_return"] for p in run["curve"][-LATE_POINTS:]] + [
        run["final_greedy_return"]
    ]
    return float(np.mean(points))


def summarise(runs: list[dict]) -> str:
    """Markdown: per task and method the greedy returns, CL-call fractions and wall-clock; the target check."""
    header = (
        "| task | method | learner | seeds | env steps | final greedy return | late greedy return "
        "| CL calls in training | CL calls at evaluation | wall-clock per run (s) | CL share of learner time |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|"]
    checks = []
    for env_id in sorted({r["env"] for r in runs}):
        means: dict[str, dict[str, float]] = {"final": {}, "late": {}}
        fraction = eval_calls = None
        mansa_runs: list[dict] = []
        for method in METHODS:
            group = [r for r in runs if r["env"] == env_id and r["method"] == method]
            if not group:
                continue
            finals, lates = (
                [r["final_greedy_return"] for r in group],
                [_late_return(r) for r in group],
            )
            means["final"][method], means["late"][method] = (
                float(np.mean(finals)),
                float(np.mean(lates)),
            )
            train_fraction = eval_fraction = share = ""
            if method == "mansa":
                mansa_runs = group
                fraction = float(np.mean([r["train_cl_fraction"] for r in group]))
                eval_calls = float(np.mean([r["eval_cl_fraction"] for r in group]))
                train_fraction, eval_fraction = f"{100 * fraction:.2f}%", f"{100 * eval_calls:.2f}%"
                shares = []
                for r in group:
                    t = r["timers"]
                    learn = t["il_act"] + t["cl_act"] + t["il_update"] + t["cl_update"]
                    shares.append((t["cl_act"] + t["cl_update"]) / max(learn, 1e-12))
                share = f"{100 * np.mean(shares):.0f}%"
            lines.append(
                f"| {env_id} | {method} | {group[0]['algo']} | {len(group)} | {group[0]['env_steps']:,} "
                f"| {_mean_std(finals)} | {_mean_std(lates)} | {train_fraction} | {eval_fraction} "
                f"| {np.mean([r['train_seconds'] for r in group]):.0f} | {share} |"
            )
        if fraction is not None and {"il", "cl"} <= set(means["final"]):
            verdicts = []
            for kind, m in means.items():
                bar = max(m["il"], m["cl"]) - TARGET_GAP
                verdicts.append(
                    f"{kind} return {m['mansa']:.3f} vs max(IL, CL) - {TARGET_GAP} = {bar:.3f}: "
                    f"{'met' if m['mansa'] >= bar else 'NOT met'}"
                )
            checks.append(
                f"- {env_id}, greedy switcher: " + "; ".join(verdicts) + f"; CL calls in training "
                f"{100 * fraction:.2f}% (target <= {100 * TARGET_FRACTION:.0f}%): "
                f"{'met' if fraction <= TARGET_FRACTION else 'NOT met'}; at evaluation {100 * eval_calls:.2f}%: "
                f"{'met' if eval_calls <= TARGET_FRACTION else 'NOT met'}"
            )
            sampled = [r for r in mansa_runs if "final_sampled_switcher_return" in r]
            if (
                sampled
            ):  # the switcher as trained (sampled), the learners greedy: return and its calls
                ret = float(np.mean([r["final_sampled_switcher_return"] for r in sampled]))
                calls = float(np.mean([r["eval_sampled_cl_fraction"] for r in sampled]))
                bar = max(means["final"]["il"], means["final"]["cl"]) - TARGET_GAP
                checks.append(
                    f"- {env_id}, sampled switcher: final return {ret:.3f} vs {bar:.3f}: "
                    f"{'met' if ret >= bar else 'NOT met'}; CL calls at evaluation {100 * calls:.2f}%: "
                    f"{'met' if calls <= TARGET_FRACTION else 'NOT met'}"
                )
    notes = (
        f"Returns: mean ± sample std over seeds of the final greedy evaluation, and of the mean over the "
        f"last {LATE_POINTS} curve points and the final evaluation (late). CL calls: share of env steps "
        "(one step of one env copy) whose joint action came from CL."
    )
    parts = parts_table(runs)
    if parts:
        notes += "\n\n" + parts
    mansa = next((r for r in runs if r["method"] == "mansa"), None)
    if mansa is not None:
        notes += (
            "\n\nMANSA runs: `"
            + " ".join(o for o in mansa["overrides"] if not o.startswith(("seed=", "env.id=")))
            + "`"
        )
    return "\n".join(lines) + f"\n\n{notes}\n\nTarget (issue 8):\n" + "\n".join(checks) + "\n"


def parts_table(runs: list[dict]) -> str:
    """Markdown: what MANSA's parts do at the end of its runs (on its final evaluation episodes):
    the joint policy with a greedy and with a sampled switcher; the controls of
    :func:`random_step_players` at the sampled switcher's rate of calls; :func:`stalled_step_player`
    (CL only where the observations repeat; runs recorded before it show "-"); its IL and CL
    learners alone; and the largest Q of a taken action each value learner reached in training (a
    divergence check). Empty for runs recorded before these figures were."""
    mansa = [r for r in runs if r["method"] == "mansa" and "final_part_returns" in r]
    if not mansa:
        return ""
    lines = [
        (
            "MANSA's parts at the end of training (its final evaluation episodes; returns mean ± std over "
            "seeds, CL calls as a share of steps):"
        ),
        "",
        (
            "| task | seeds | greedy switcher | sampled switcher (CL calls) | CL at random steps, same rate "
            "| random joint actions at random steps, same rate | CL when the observations repeat | its IL alone "
            "| its CL alone | max Q of taken action, IL / CL |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id in sorted({r["env"] for r in mansa}):
        lines.append(_parts_row(env_id, [r for r in mansa if r["env"] == env_id]))
    return "\n".join(lines)


def _parts_row(env_id: str, group: list[dict]) -> str:
    def peak(side: str) -> str:
        values = [
            p[f"{side}_q_taken_max"]
            for r in group
            for p in r["curve"]
            if p.get(f"{side}_q_taken_max") is not None
        ]
        return f"{max(values):.3g}" if values else "-"

    def part(name: str) -> str:
        if not all(name in r["final_part_returns"] for r in group):
            return "-"
        text = _mean_std([r["final_part_returns"][name] for r in group])
        if name in group[0].get("eval_control_fractions", {}):
            text += f" ({100 * np.mean([r['eval_control_fractions'][name] for r in group]):.2f}%)"
        return text

    return (
        f"| {env_id} | {len(group)} | {_mean_std([r['final_greedy_return'] for r in group])} "
        f"| {_mean_std([r['final_sampled_switcher_return'] for r in group])} "
        f"({100 * np.mean([r['eval_sampled_cl_fraction'] for r in group]):.2f}%) "
        f"| {part('cl_random_steps')} | {part('random_random_steps')} | {part('cl_when_stalled')} "
        f"| {part('il')} | {part('cl')} "
        f"| {peak('il')} / {peak('cl')} |"
    )


def plot(runs: list[dict], out: str) -> list[str]:
    """The three figures per task; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    colours = {"mansa": "tab:purple", "il": "tab:blue", "cl": "tab:orange"}
    for env_id in sorted({r["env"] for r in runs}):
        task = [r for r in runs if r["env"] == env_id]
        name = env_id.replace("Foraging-", "").replace("-v3", "")
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(6.4, 6.0), sharex=True, height_ratios=(2, 1)
        )
        for method in METHODS:
            group = [r for r in task if r["method"] == method and r["curve"]]
            if not group:
                continue
            length = min(len(r["curve"]) for r in group)
            x = [p["env_steps"] for p in group[0]["curve"][:length]]
            y = np.array([[p["greedy_return"] for p in r["curve"][:length]] for r in group])
            which = "greedy switcher, " if method == "mansa" else ""
            top.plot(
                x,
                y.mean(0),
                color=colours[method],
                label=f"{method} ({which}{group[0]['algo']}, {len(group)} seeds)",
            )
            top.fill_between(x, y.min(0), y.max(0), color=colours[method], alpha=0.2)
            if method == "mansa":
                f = 100 * np.array(
                    [[p["train_cl_fraction"] for p in r["curve"][:length]] for r in group]
                )
                bottom.plot(x, f.mean(0), color=colours[method], label="training")
                g = 100 * np.array(
                    [[p["eval_cl_fraction"] for p in r["curve"][:length]] for r in group]
                )
                bottom.plot(
                    x,
                    g.mean(0),
                    color=colours[method],
                    linestyle="--",
                    label="greedy evaluation (greedy switcher)",
                )
        top.set_ylabel("greedy return")
        top.set_title(f"{name}: MANSA vs IL alone vs CL alone")
        top.legend(fontsize=8)
        bottom.axhline(100 * TARGET_FRACTION, color="grey", linewidth=0.8, linestyle=":")
        bottom.set_ylabel("MANSA CL calls (%)")
        bottom.set_xlabel("env steps")
        bottom.legend(fontsize=8)
        fig.tight_layout()
        written.append(os.path.join(out, f"{name}_curves.png"))
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)

        mansa = [r for r in task if r["method"] == "mansa"]
        if not mansa:
            continue
        by_step = np.sum([r["cl_calls_by_step"] for r in mansa], axis=0)
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        ax.bar(np.arange(len(by_step)), by_step / max(by_step.sum(), 1), color=colours["mansa"])
        ax.set_xlabel("step within the episode")
        ax.set_ylabel("share of CL calls")
        ax.set_title(
            f"{name}: when MANSA called CL in training ({int(by_step.sum()):,} calls, {len(mansa)} seeds)",
            fontsize=9,
        )
        fig.tight_layout()
        written.append(os.path.join(out, f"{name}_cl_steps.png"))
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)

        grids = [r["cl_grid"] for r in mansa if r.get("cl_grid") is not None]
        if grids:
            heat = np.sum(grids, axis=0).astype(float)
            fig, ax = plt.subplots(figsize=(4.6, 4.0))
            image = ax.imshow(heat / max(heat.sum(), 1), cmap="magma")
            fig.colorbar(image, ax=ax, label="share of agent positions")
            ax.set_title(f"{name}: agents' cells at CL calls", fontsize=9)
            ax.set_xlabel("column")
            ax.set_ylabel("row")
            fig.tight_layout()
            written.append(os.path.join(out, f"{name}_cl_grid.png"))
            fig.savefig(written[-1], dpi=90)
            plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--envs", nargs="+", default=list(TASKS))
    parser.add_argument(
        "--pairing",
        choices=sorted(PAIRINGS),
        default="value",
        help="value: IQL / QMIX (the paper's), policy: IPPO / MAPPO",
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--env-steps", type=int, default=2_000_000, help="env steps per run (all methods)"
    )
    parser.add_argument("--num-envs", type=int, default=32, help="env copies stepped together")
    parser.add_argument(
        "--eval-episodes", type=int, default=100, help="greedy episodes of the final evaluation"
    )
    parser.add_argument(
        "--eval-every", type=int, default=100_000, help="learning-curve points (0: none)"
    )
    parser.add_argument(
        "--curve-episodes", type=int, default=32, help="greedy episodes per curve point"
    )
    parser.add_argument(
        "--mansa-set",
        nargs="*",
        default=list(MANSA_DEFAULTS),
        metavar="KEY=VALUE",
        help="MANSA's own settings (algo.KEY=VALUE), e.g. cost=0.01 budget=2 switcher.lr=1e-3",
    )
    parser.add_argument(
        "--il-set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="the IL learner's settings, alone and inside MANSA (e.g. epsilon_anneal_steps=200000)",
    )
    parser.add_argument(
        "--cl-set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="the CL learner's settings, alone and inside MANSA",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--out", default="benchmarks/results/mansa", help="output directory")
    parser.add_argument(
        "--plots-only",
        action="store_true",
        help="redraw results.md and the plots from results.json",
    )
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    if args.plots_only:
        with open(path) as f:
            runs = json.load(f)
    else:
        for item in [*args.mansa_set, *args.il_set, *args.cl_set]:
            if "=" not in item:
                parser.error(f"settings take KEY=VALUE, got {item!r}")
        jobs = [
            {
                "env": e,
                "method": m,
                "seed": s,
                "pairing": args.pairing,
                "num_envs": args.num_envs,
                "env_steps": args.env_steps,
                "eval_episodes": args.eval_episodes,
                "eval_every": args.eval_every,
                "curve_episodes": args.curve_episodes,
                "mansa_set": args.mansa_set,
                "il_set": args.il_set,
                "cl_set": args.cl_set,
            }
            for e in args.envs
            for s in args.seeds
            for m in args.methods
        ]
        runs = []
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for run in pool.map(run_one, jobs):
                runs.append(run)
                with (
                    atomic_path(path) as tmp,
                    open(tmp, "w") as f,
                ):  # every run kept as soon as it ends
                    json.dump(runs, f)
                if "error" in run:
                    print(
                        f"{run['env']} {run['method']} ({run['algo']}) seed {run['seed']}: FAILED after "
                        f"{run['env_steps']:,} steps: {run['error']}",
                        flush=True,
                    )
                    continue
                extra = (
                    f", CL calls {100 * run['train_cl_fraction']:.2f}%"
                    if run["method"] == "mansa"
                    else ""
                )
                print(
                    f"{run['env']} {run['method']} ({run['algo']}) seed {run['seed']}: greedy "
                    f"{run['final_greedy_return']:.3f} after {run['env_steps']:,} steps, "
                    f"{run['train_seconds']:.0f} s{extra}",
                    flush=True,
                )
        print(f"{len(runs)} runs in {time.perf_counter() - start:.0f} s")
    failed = [r for r in runs if "error" in r]
    runs = [r for r in runs if "error" not in r]
    table = summarise(runs) + "".join(
        f"\n- FAILED: {r['env']} {r['method']} seed {r['seed']} after {r['env_steps']:,} steps: {r['error']}"
        for r in failed
    )
    write_text_atomic(os.path.join(args.out, "results.md"), table)
    print(table)
    for file in plot(runs, args.out):
        print("wrote", file)


if __name__ == "__main__":
    main()
