"""MANSA against IL alone and CL alone on Level-Based Foraging: return, CL-call fraction, wall-clock.

    python -m benchmarks.mansa                                        # the issue's grid, benchmarks/mansa.yaml (long)
    python -m benchmarks.mansa --env-steps 200000 --seeds 0 1 --jobs 2
    python -m benchmarks.mansa --pairing policy                       # IPPO / MAPPO instead of IQL / QMIX
    python -m benchmarks.mansa my_grid.yaml --launcher ray            # another grid file, on Ray
    python -m benchmarks.mansa --plots-only                           # redraw from results.json
    python -m benchmarks.mansa --mansa-set switch=learn --control-rate 0.03   # + the control run

The runs are a grid (:mod:`benchmarks.grid`; ``benchmarks/mansa.yaml`` by default) run through
the launchers (``--launcher process|ray|serial``, ``--jobs``): every (task, seed) trains MANSA
(label ``mansa``), its IL learner alone (``il``) and its CL learner alone (``cl``) as train.py
runs, for the same number of env steps. MANSA's settings are ``MANSAConfig``'s defaults
unless the grid (or ``--mansa-set``) overrides them. The command line's options replace the
file's: ``--pairing`` and ``--il-set`` / ``--cl-set`` / ``--mansa-set`` write the three methods
(a sub-learner's settings apply alone and inside MANSA), ``--env-steps``, ``--num-envs``,
``--eval-every`` and ``--curve-episodes`` set train.py's ``total_env_steps``, ``env.num_envs``,
``eval.every_env_steps`` and ``eval.episodes``. A finished run is not trained again.

``--control-rate RATE`` adds a fourth method (label ``control``): MANSA as set, but calling CL
at random states with probability RATE (``switcher.mode=random``), the control at the learned
switcher's rate of calls (for switch=learn the centralised rule at random transitions; switch=act
has its control in the evaluation below). :mod:`benchmarks.mansa_summary` turns results.json
files into summary.json.

After each run the worker calls :func:`evaluate_run` (the grid's ``post_run``): it rebuilds
the trained learner from the run's checkpoint and plays ``--eval-episodes`` greedy episodes on
fixed seeds; for MANSA with a greedy and with a sampled switcher, its parts alone and the
controls of :func:`parts_table`, and writes them to ``mansa_eval.json``. The analysis
(:func:`run_record`) reads each run directory: that file, eval.json (the learning curve:
train.py's periodic greedy evaluations, MANSA's switcher sampled as its ``act`` plays) and
metrics.jsonl (CL calls in training, wall-clock split, peak Q and mean TD loss per curve window;
for switch=learn the share of updates learned with the centralised rule,
``mansa/cl_update_share``).

Written to ``--out``: ``results.json`` (every run: final return, CL-call fractions in training
and at evaluation, wall-clock split, learning curve, CL calls by episode step, agent positions
at CL calls in the sampled-switcher evaluation; for MANSA also the returns of its parts),
``results.md`` (mean ± std over seeds and the issue's target: MANSA uses at most 5% CL calls
and returns at least max(IL, CL) - 0.05), and per task ``<task>_curves.png`` (greedy return
against env steps, MANSA's CL fraction), ``<task>_cl_steps.png`` (where in the episode CL was
called in training) and ``<task>_cl_grid.png`` (where on the grid the agents stood when it was).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import yaml

from algorithms.mansa.transfer import uniform_actions
from algorithms.runs.files import write_text_atomic
from benchmarks.grid import (
    RunRow,
    benchmark_grid_data,
    benchmark_parser,
    launcher_from_args,
    load_or_exit,
    run_grid,
)
from benchmarks.run_dirs import (
    FINAL_SEED,
    eval_entry,
    eval_steps,
    load_learner,
    metrics_rows,
    read_json,
    write_json,
)

GRID_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mansa.yaml")
TASKS = ("Foraging-8x8-2p-2f-coop-v3", "Foraging-2s-8x8-2p-2f-coop-v3")
PAIRINGS = {"value": ("iql", "qmix"), "policy": ("ippo", "mappo")}
METHODS = ("mansa", "il", "cl", "control")
SIDES = ("cl", "il")  #: MANSA's two learners, as its metrics name them (losses/<side>/...)
TARGET_FRACTION, TARGET_GAP = 0.05, 0.05
LATE_POINTS = 3
#: written into each run directory by :func:`evaluate_run`
EVAL_FILE = "mansa_eval.json"


# ---------------------------------------------------------------------- the grid
def method_entries(pairing: str, mansa_set=(), il_set=(), cl_set=()) -> list[dict[str, object]]:
    """The grid's three algorithm entries: MANSA, its IL alone and its CL alone. ``*_set`` are
    ``KEY=VALUE`` settings of MANSA (``algo.KEY``) and of its sub-learners, alone and inside it."""
    il, cl = PAIRINGS[pairing]
    return [
        {
            "name": "mansa",
            "label": "mansa",
            "overrides": [
                f"algo.il={il}",
                f"algo.cl={cl}",
                *(f"algo.{kv}" for kv in mansa_set),
                *(f"algo.il_cfg.{kv}" for kv in il_set),
                *(f"algo.cl_cfg.{kv}" for kv in cl_set),
            ],
        },
        {"name": il, "label": "il", "overrides": [f"algo.{kv}" for kv in il_set]},
        {"name": cl, "label": "cl", "overrides": [f"algo.{kv}" for kv in cl_set]},
    ]


def _label(entry) -> str:
    return entry if isinstance(entry, str) else str(entry.get("label") or entry.get("name"))


def grid_data(args: argparse.Namespace) -> dict:
    """The grid file's mapping with the command line's replacements."""
    data = benchmark_grid_data(args)
    sets = (args.mansa_set, args.il_set, args.cl_set)
    if args.pairing or any(s is not None for s in sets):
        data["algorithms"] = method_entries(args.pairing or "value", *(s or () for s in sets))
    if args.control_rate is not None:
        data["algorithms"] = [*data["algorithms"], control_entry(data, args.control_rate)]
    if args.methods:
        data["algorithms"] = [a for a in data["algorithms"] if _label(a) in args.methods]
    return data


def control_entry(data: dict, rate: float) -> dict[str, object]:
    """The control at a matched call rate, as a training run (label ``control``): MANSA as the
    grid sets it, with the switcher calling CL at random states with probability ``rate``. For
    switch=learn it is the centralised rule at random transitions; set ``rate`` to the learned
    switcher's share of calls (results.json's ``train_cl_fraction``)."""
    (mansa,) = [a for a in data["algorithms"] if _label(a) == "mansa"]
    overrides = list(mansa.get("overrides", [])) if isinstance(mansa, dict) else []
    overrides += ["algo.switcher.mode=random", f"algo.switcher.rate={rate}"]
    return {"name": "mansa", "label": "control", "overrides": overrides}


# ---------------------------------------------------------------------- after each run
def evaluate_run(run_dir: str, episodes: int = 100) -> dict:
    """The grid's ``post_run``: greedy evaluations of the trained learner (rebuilt from the run's
    checkpoint) over ``episodes`` episodes on fixed seeds, written to :data:`EVAL_FILE`.

    For MANSA: its joint policy with a greedy switcher and with a sampled one (the share of
    steps that called CL in each), and on the same episodes the controls of
    :func:`random_step_players` at the sampled switcher's rate of calls,
    :func:`stalled_step_player` and each learner alone (:func:`learners_alone`); where the
    agents stood at the sampled switcher's calls (LBF), and the training calls by episode step.
    """
    import train
    from algorithms.mansa import MANSALearner

    learner, cfg = load_learner(run_dir)
    seed = FINAL_SEED + cfg.seed
    cells = []

    def greedy(player, on_call=None) -> tuple[float, float]:
        results, fraction = evaluate_calls(
            player,
            lambda b: train.make_env(cfg, b),
            episodes,
            seed,
            needs_state=learner.act_needs_state,
            on_call=on_call,
        )
        return float(np.mean(results["return"])), fraction

    figures: dict = {"episodes": episodes}
    if not isinstance(learner, MANSALearner):
        figures["final_greedy_return"] = greedy(learner.act)[0]
        write_json(os.path.join(run_dir, EVAL_FILE), figures)
        return figures

    if learner.cfg.learn:  # IL's agents act at evaluation; the CL share is that of updates
        figures["final_greedy_return"], figures["eval_cl_fraction"] = greedy(learner.act)
        figures["final_sampled_switcher_return"] = figures["final_greedy_return"]
        figures["eval_sampled_cl_fraction"] = figures["eval_cl_fraction"]
        figures["cl_calls_by_step"] = learner.cl_calls_by_step.tolist()
        write_json(os.path.join(run_dir, EVAL_FILE), figures)
        return figures

    def greedy_switcher(obs, mask, state, hidden):
        return learner.act(obs, mask, state, hidden, switcher_greedy=True)

    def record_cells(env, cl):  # where the agents stand when CL is called (LBF's cores)
        if hasattr(env, "pos") and hasattr(env, "rows"):
            if not cells:
                cells.append(np.zeros((env.rows, env.cols), dtype=np.int64))
            pos = env.pos[cl].reshape(-1, 2)
            np.add.at(cells[0], (pos[:, 0], pos[:, 1]), 1)

    figures["final_greedy_return"], figures["eval_cl_fraction"] = greedy(greedy_switcher)
    sampled, rate = greedy(learner.act, record_cells)  # act's default: the switcher sampled
    figures["final_sampled_switcher_return"], figures["eval_sampled_cl_fraction"] = sampled, rate
    figures["final_part_returns"] = {
        name: greedy(player)[0] for name, player in learners_alone(learner).items()
    }
    figures["eval_control_fractions"] = {}
    controls = {
        **random_step_players(learner, rate, cfg.seed),
        "cl_when_stalled": stalled_step_player(learner),
    }
    for name, player in controls.items():
        figures["final_part_returns"][name], figures["eval_control_fractions"][name] = greedy(
            player
        )
    figures["cl_calls_by_step"] = learner.cl_calls_by_step.tolist()
    figures["cl_grid"] = cells[0].tolist() if cells else None
    write_json(os.path.join(run_dir, EVAL_FILE), figures)
    return figures


# ---------------------------------------------------------------------- reading the runs
def override_value(overrides: list[str], key: str, default: str) -> str:
    """The value the last ``key=value`` in ``overrides`` sets (``default`` if none does)."""
    chosen = [o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")]
    return chosen[-1] if chosen else default


def _pairing(cell) -> str:
    """value or policy: from the learner the run trains (MANSA's: its IL learner's)."""
    name = cell.algo.name
    if name == "mansa":
        from algorithms.mansa import MANSAConfig

        name = override_value(cell.spec.overrides, "algo.il", MANSAConfig().il)
    return next(p for p, pair in PAIRINGS.items() if name in pair)


def _switch(cell) -> str | None:
    """MANSA's ``algo.switch`` (act or learn); None for a learner alone."""
    if cell.algo.name != "mansa":
        return None
    return override_value(cell.spec.overrides, "algo.switch", "act")


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _window_curve(run_dir: str, is_mansa: bool) -> tuple[list[dict], list[dict]]:
    """The learning curve (one point per periodic evaluation after the first step) with the
    training figures of the updates since the previous point; and every metrics.jsonl line
    (an update's, or an evaluation's ``eval/*``)."""
    rows = metrics_rows(run_dir)
    curve, start = [], 0
    for point in eval_steps(eval_entry(run_dir)):
        end = point["step_count"]
        if end == 0:
            continue
        window = [r for r in rows if start < r["env_steps"] <= end]
        start = end

        def values(key, window=window):
            return [r[key] for r in window if r.get(key) is not None]

        returns, sps = values("charts/episodic_return"), values("charts/SPS")
        curve.append(
            {
                "env_steps": end,
                "greedy_return": float(np.mean(point["return"])),
                "eval_cl_fraction": None,
                "train_return": _mean_or_none(returns),
                "train_cl_fraction": (
                    float(np.mean(values("mansa/cl_fraction"))) if is_mansa and window else None
                ),
                "train_seconds": window[-1]["env_steps"] / sps[-1] if sps else None,
                **{
                    f"{side}_q_taken_max": max(values(f"losses/{side}/q_taken"), default=None)
                    for side in SIDES
                },
                # how well a value learner's Q fits its targets: MANSA's sides, or a learner alone
                **{
                    f"{side}_td_loss": _mean_or_none(values(f"losses/{side}/td_loss"))
                    for side in SIDES
                },
                "td_loss": _mean_or_none(values("losses/td_loss")),
            }
        )
    return curve, rows


def run_record(row: RunRow) -> dict:
    """One run as results.json keeps it: its identity, curve and figures (``error`` if it failed)."""
    cell, run_dir = row.cell, row.cell.spec.run_dir
    run = {
        "env": cell.env.id,
        "method": cell.algo.label,
        "seed": cell.seed,
        "pairing": _pairing(cell),
        "algo": cell.algo.name,
        "overrides": [o for o in cell.spec.overrides if o.startswith(("algo", "env.num"))],
        "env_steps": row.record.env_steps,
        "run_dir": os.path.relpath(run_dir),
        "switch": _switch(cell),
    }
    if not row.record.done:
        return {**run, "error": row.record.error.splitlines()[0], "curve": []}
    with open(os.path.join(run_dir, "config.yaml")) as f:
        run["num_envs"] = yaml.safe_load(f)["env"]["num_envs"]
    is_mansa = cell.algo.name == "mansa"
    curve, rows = _window_curve(run_dir, is_mansa)
    last = [r for r in rows if "charts/SPS" in r][
        -1
    ]  # the last update's line (not an evaluation's)
    run.update(
        curve=curve,
        train_seconds=last["env_steps"] / last["charts/SPS"],
        sps=last["charts/SPS"],
        **read_json(run_dir, EVAL_FILE),
    )
    if is_mansa:
        run["train_cl_fraction"] = last["mansa/cl_fraction_total"]
        run["timers"] = {
            k.removeprefix("mansa/time_"): v for k, v in last.items() if k.startswith("mansa/time_")
        }
        run["cl_time_share"] = last.get("mansa/cl_time_share")
        run["train_cl_update_share"] = last.get("mansa/cl_update_share")  # switch=learn only
    return run


def evaluate_calls(
    player, make_env, episodes: int, seed: int, needs_state: bool, on_call=None
) -> tuple[dict, float]:
    """:func:`algorithms.runs.evaluation.evaluate` of ``player``, and the share of the evaluated episodes'
    steps whose ``SwitchMemory`` says CL was called. Only the counted episodes' steps count: a
    copy whose episode has ended plays on until every copy's has, and those steps are not figures.
    ``on_call(env, cl [B])``, if given, sees the env before each step with counted calls."""
    from algorithms.mansa import SwitchMemory
    from algorithms.runs.evaluation import evaluate

    live = [np.zeros(0, dtype=bool)]  # copies of the current chunk still in their first episode
    calls, steps, current = [0], [0], [None]

    def tracked_env(copies: int):
        env = current[0] = make_env(copies)
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
            if on_call is not None and (hidden.cl & counted).any():
                on_call(current[0], hidden.cl & counted)
        return actions, hidden

    results = evaluate(act, tracked_env, episodes, seed, needs_state=needs_state)
    return results, calls[0] / max(steps[0], 1)


def learners_alone(learner) -> dict:
    """MANSA's IL and CL learners, each playing every step alone (greedily): what its parts can do."""

    def alone(side):
        return lambda obs, mask, state, hidden: side.greedy(obs, mask, state, True, None, hidden)

    return {"il": alone(learner.il), "cl": alone(learner.cl)}


def scripted_player(learner, when, stand_in=None):
    """A scripted switcher: IL's greedy joint action, except on the steps ``when(copies, stall)``
    marks (``[B]`` bool; ``stall``: steps the joint observation has repeated), within MANSA's budget
    and counted as calls, where CL's greedy joint action is played, or ``stand_in(mask)``'s if given
    (the masks of the marked copies)."""

    def act(obs, mask, state, hidden):
        hidden = learner.initial_memory(len(obs)) if hidden is None else hidden
        cl = when(len(obs), hidden.stall_of(obs)) & (hidden.calls_left > 0)
        actions, memory = learner.play_calls(obs, mask, state, cl, hidden)
        if stand_in is not None and cl.any():
            actions[cl] = stand_in(mask[cl])
        return actions, memory

    return act


def random_step_players(learner, rate: float, seed: int) -> dict:
    """Controls for a switcher: IL's greedy joint action, except on steps drawn with probability
    ``rate`` (within MANSA's budget, counted as calls), where the joint action is CL's greedy one
    (``cl_random_steps``) or uniformly random over the valid actions (``random_random_steps``)."""
    cl_rng, random_rng = np.random.default_rng(seed + 1), np.random.default_rng(seed + 2)

    return {
        "cl_random_steps": scripted_player(learner, lambda n, stall: cl_rng.random(n) < rate),
        "random_random_steps": scripted_player(
            learner,
            lambda n, stall: random_rng.random(n) < rate,
            lambda mask: uniform_actions(random_rng, mask),
        ),
    }


def stalled_step_player(learner):
    """A scripted switcher: IL's greedy joint action, CL's greedy one on steps where the joint
    observation is the same as the last step's (within MANSA's budget, counted as calls). Greedy IL
    can freeze on LBF (the observations repeat, and so do its actions): what calling CL only then is worth."""
    return scripted_player(learner, lambda n, stall: stall > 0)


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
    colours = {"mansa": "tab:purple", "il": "tab:blue", "cl": "tab:orange", "control": "tab:gray"}
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
                g = [[p["eval_cl_fraction"] for p in r["curve"][:length]] for r in group]
                if all(v is not None for points in g for v in points):  # runs made before PR 27
                    bottom.plot(
                        x,
                        100 * np.array(g).mean(0),
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
        if bottom.get_legend_handles_labels()[0]:  # MANSA ran on this task
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


def merged(path: str, runs: list[dict]) -> list[dict]:
    """``runs`` added to the results.json at ``path`` (if any), replacing the runs of the same run
    directory: calls with other ``--methods`` or ``--control-rate`` into one ``--out`` add up. A
    run directory is known by its name (task, method, seed and config hash), since its recorded
    path is relative to wherever the command ran."""
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        kept = json.load(f)
    new = {os.path.basename(r["run_dir"]) for r in runs}
    return [r for r in kept if os.path.basename(r.get("run_dir", "")) not in new] + runs


def main_parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = benchmark_parser(__doc__, GRID_FILE)
    parser.add_argument(
        "--pairing",
        choices=sorted(PAIRINGS),
        help="value: IQL / QMIX (the paper's), policy: IPPO / MAPPO (replaces the grid's methods)",
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, help="run only these methods")
    for side, example in (
        (
            "mansa",
            "MANSA's own settings (algo.KEY=VALUE), e.g. cost=0.01 budget=2 switcher.lr=1e-3",
        ),
        ("il", "the IL learner's settings, alone and inside MANSA (e.g. epsilon_anneal_steps=2e5)"),
        ("cl", "the CL learner's settings, alone and inside MANSA"),
    ):
        parser.add_argument(f"--{side}-set", nargs="*", metavar="KEY=VALUE", help=example)
    parser.add_argument(
        "--control-rate",
        type=float,
        help="also train the control: MANSA calling CL at random states at this rate",
    )
    parser.add_argument(
        "--plots-only",
        action="store_true",
        help="redraw results.md and the plots from results.json",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = main_parser()
    args = parser.parse_args(argv)
    grid = load_or_exit(parser, grid_data(args), args.grid)
    os.makedirs(grid.out, exist_ok=True)
    path = os.path.join(grid.out, "results.json")
    if args.plots_only:
        with open(path) as f:
            runs = json.load(f)
    else:
        rows = run_grid(grid, launcher_from_args(args), accumulate=True)  # as results.json
        runs = merged(path, [run_record(r) for r in rows if r.record.status != "not run"])
        write_json(path, runs, indent=None)
    failed = [r for r in runs if "error" in r]
    runs = [r for r in runs if "error" not in r]
    table = summarise(runs) + "".join(
        f"\n- FAILED: {r['env']} {r['method']} seed {r['seed']} after {r['env_steps']:,} steps: {r['error']}"
        for r in failed
    )
    write_text_atomic(os.path.join(grid.out, "results.md"), table)
    print(table)
    for file in plot(runs, grid.out):
        print("wrote", file)


if __name__ == "__main__":
    sys.exit(main())
