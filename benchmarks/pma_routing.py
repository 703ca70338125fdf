"""Do independent policy-mirror-ascent drivers reach the Wardrop user equilibrium (issue 20)?

Runs ``algo=pma`` (configs/pma_routing_*.yaml), IPPO (configs/ippo_routing_*_learn.yaml, as
the routing benchmark) and IQL (Braess only) on routing-braess-v0 and routing-siouxfalls-v0,
over seeds, through the launchers, and reports the relative gap to user equilibrium (UE)
over training of:

- ``mean_field``: the flows the PMA drivers' policies put on the network in expectation
  (each driver's route probabilities times its vehicles), read from the run's checkpoints
  after it finished (a post-run hook; PMA only, its tables give the probabilities);
- ``greedy``: the trainer's greedy evaluation episodes (every learner);
- ``sampled``: the days driven while training (every learner; PMA's include its exploration).

Also the distance of PMA's expected flows to the entropy-regularised (logit) equilibrium of
the mean-field game, a fixed point solved here by the method of successive averages.

    python benchmarks/pma_routing.py                    # 5 seeds, all conditions, then the summary
    python benchmarks/pma_routing.py --only pma --seeds 0 1
    python benchmarks/pma_routing.py --summarise-only   # tables and plot from finished runs
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "pma")
IQL_BRAESS = (
    "env.id=routing-braess-v0",
    "env.num_envs=8",
    "total_env_steps=40000",
    "algo.epsilon_anneal_steps=20000",
    "algo.buffer_size=1000",
    "eval.every_env_steps=8000",
    "eval.episodes=4",
    "eval.absolute_episodes=8",
)
#: condition -> (network, algorithm, config file, extra overrides)
CONDITIONS = {
    "braess_pma": ("braess", "pma", "configs/pma_routing_braess.yaml", ()),
    "braess_ippo": ("braess", "ippo", "configs/ippo_routing_braess_learn.yaml", ()),
    "braess_iql": ("braess", "iql", None, ("algo=iql", *IQL_BRAESS)),
    "siouxfalls_pma": ("siouxfalls", "pma", "configs/pma_routing_siouxfalls.yaml", ()),
    "siouxfalls_pma1000": (
        "siouxfalls",
        "pma",
        "configs/pma_routing_siouxfalls.yaml",
        ("env.kwargs.num_agents=1000",),
    ),
    "siouxfalls_ippo": ("siouxfalls", "ippo", "configs/ippo_routing_siouxfalls_learn.yaml", ()),
}
#: plot colour and legend name of each condition (default: the algorithm's)
COLOURS = {"pma": "C0", "ippo": "C1", "iql": "C2", "siouxfalls_pma1000": "C3"}
NAMES = {
    "siouxfalls_pma": "pma 5000 drivers",
    "siouxfalls_pma1000": "pma 1000 drivers",
    "siouxfalls_ippo": "ippo 1000 drivers",
}
KEEP = ("checkpoint.every_updates=10", "checkpoint.keep=1000")  # PMA: the mean-field curve


def specs(runs_dir: str, seeds: list[int], only: list[str], conditions: dict | None = None) -> list:
    """The launchers' :class:`~benchmarks.launchers.RunSpec` of each condition and seed
    (``conditions``: a table like ``CONDITIONS``, the default)."""
    from benchmarks.launchers import PostRun, RunSpec

    out = []
    for label, (_, algo, config, extra) in (conditions or CONDITIONS).items():
        if only and algo not in only and label not in only:
            continue
        for seed in seeds:
            name = f"{label}_seed{seed}"
            overrides = (
                f"seed={seed}",
                f"run_name={name}",
                f"log.dir={runs_dir}",
                "log.progress=false",
                "log.tensorboard=false",
                "torch_threads=1",
                *extra,
                *(KEEP if algo == "pma" else ()),
            )
            hook = PostRun("benchmarks.pma_routing:mean_field_curve") if algo == "pma" else None
            path = os.path.join(runs_dir, name)
            out.append(
                RunSpec(name, path, overrides, config and os.path.join(ROOT, config), post_run=hook)
            )
    return out


# --------------------------------------------------------------------------- flows
def route_flows(env, probs: np.ndarray) -> np.ndarray:
    """Expected vehicles per route ``[R]`` of the drivers' route probabilities ``[N, k]``."""
    route = env.route_table[env.agent_od[:, None], np.arange(env.k)[None, :]]
    weights = probs * env.vehicles[:, None]
    return np.bincount(route.ravel(), weights=weights.ravel(), minlength=env.paths.num_paths)


def link_flows(env, flows: np.ndarray) -> np.ndarray:
    return env.paths.incidence.T @ flows


def logit_equilibrium(env, tau: float, iterations: int = 3000) -> tuple[np.ndarray, float]:
    """Route flows of the tau-logit (entropy-regularised, mean-field) equilibrium over each OD
    pair's k routes, by successive averages; and the last averaging step's size (residual)."""
    valid, table, demand = env.route_valid, env.route_table, env.network.demand
    flows = route_flows(
        env,
        np.where(env.route_valid[env.agent_od], 1.0, 0.0)
        / valid[env.agent_od].sum(1, keepdims=True),
    )
    for t in range(iterations):
        times = env.paths.incidence @ env.network.link_time(link_flows(env, flows))
        logits = np.where(valid, -times[table] / tau, -np.inf)
        shares = np.exp(logits - logits.max(1, keepdims=True))
        shares /= shares.sum(1, keepdims=True)
        target = np.zeros_like(flows)
        np.add.at(target, table[valid], (shares * demand[:, None])[valid])
        step = target - flows
        flows = flows + step / (t + 2)
    return flows, float(np.abs(step).sum() / demand.sum())


def regularised_exploitability(
    env, probs: np.ndarray, tau: float, samples: int = 200, seed: int = 0
) -> float:
    """Mean over drivers (weighted by vehicles) of the gain of a tau-regularised best response
    to the others' policies, ``tau logsumexp(Q/tau) - (pi.Q + tau H(pi))``, in time units: 0
    exactly at a Nash equilibrium of the regularised N-driver game. ``Q_i(a)`` is minus the
    expected time of route a with driver i on it, by Monte Carlo over ``samples`` days."""
    rng = np.random.default_rng(seed)
    n = env.num_agents
    incidence = env.paths.incidence.toarray().astype(bool)  # [R, L]
    routes = env.route_table[env.agent_od]  # [N, k] path ids
    options = incidence[routes]  # [N, k, L]
    cost = np.zeros(probs.shape)
    cdf = np.cumsum(probs, axis=1)
    for _ in range(samples):
        choice = np.minimum((rng.random((n, 1)) >= cdf).sum(1), probs.shape[1] - 1)
        taken = routes[np.arange(n), choice]
        x = link_flows(env, np.bincount(taken, weights=env.vehicles, minlength=len(incidence)))
        on = incidence[taken]  # [N, L] the links driver i loads now
        alone = env.network.link_time(np.where(on, x, x + env.vehicles[:, None]))  # [N, L]
        cost += (options * alone[:, None, :]).sum(axis=2)
    q = -cost / samples
    valid = env.route_valid[env.agent_od]
    logits = np.where(valid, q / tau, -np.inf)
    top = logits.max(axis=1)
    best = tau * (top + np.log(np.exp(logits - top[:, None]).sum(axis=1)))
    safe = np.where(probs > 0, probs, 1.0)
    value = (probs * np.where(valid, q, 0.0)).sum(1) - tau * (probs * np.log(safe)).sum(1)
    return float(np.average(best - value, weights=env.vehicles))


def mean_field_curve(run_dir: str) -> None:
    """Post-run hook: the relative gap to UE (and to the logit equilibrium) of the expected
    flows of every kept checkpoint's policies, into ``mean_field.json``."""
    from algorithms.runs.checkpoint import checkpoint_files, load_checkpoint
    from algorithms.runs.config import CONFIG_FILE, build, load_config
    from envs.routing import relative_gap

    cfg = load_config(os.path.join(run_dir, CONFIG_FILE), ["torch_threads=0"])
    env, learner = build(cfg)
    reference, residual = logit_equilibrium(env, cfg.algo.tau)
    obs, _ = env.reset(seed=0)
    mask = env.action_mask()
    points = []
    for path in checkpoint_files(run_dir):
        learner.load_state_dict(load_checkpoint(path, cfg)["learner"])
        flows = route_flows(env, learner.action_probs(obs, mask)[0])
        links = link_flows(env, flows)
        points.append(
            {
                "env_steps": learner.env_steps,
                "relative_gap": relative_gap(env.network, links),
                "ue_ratio": float(env.network.tstt(links) / env.ue.tstt),
                "price_of_anarchy": float(env.network.tstt(links) / env.so.tstt),
                "logit_distance": float(
                    np.abs(flows - reference).sum() / 2 / env.network.total_demand
                ),
            }
        )
    points.sort(key=lambda p: p["env_steps"])
    logit_links = link_flows(env, reference)
    learner.load_state_dict(load_checkpoint(checkpoint_files(run_dir)[-1], cfg)["learner"])
    exploit = regularised_exploitability(env, learner.action_probs(obs, mask)[0], cfg.algo.tau)
    out = {
        "curve": points,
        "regularised_exploitability": exploit,
        "logit_equilibrium": {
            "tau": cfg.algo.tau,
            "relative_gap": relative_gap(env.network, logit_links),
            "ue_ratio": float(env.network.tstt(logit_links) / env.ue.tstt),
            "residual": residual,
        },
    }
    with open(os.path.join(run_dir, "mean_field.json"), "w") as f:
        json.dump(out, f, indent=1)


# --------------------------------------------------------------------------- summary
def run_curves(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """A finished run's relative-gap curves (greedy evaluation, training days, mean field) and
    TSTT over the system optimum's (``*_poa``)."""
    from benchmarks.run_dirs import eval_entry, eval_steps, metrics_rows

    curves: dict[str, list[tuple[int, float]]] = {}
    points, rows = eval_steps(eval_entry(run_dir)), metrics_rows(run_dir)
    for suffix, metric in (("", "relative_gap"), ("_poa", "price_of_anarchy")):
        curves["greedy" + suffix] = [
            (int(p["step_count"]), float(np.mean(p[metric]))) for p in points
        ]
        curves["sampled" + suffix] = [
            (int(r["env_steps"]), float(r[f"env/{metric}"])) for r in rows if f"env/{metric}" in r
        ]
    path = os.path.join(run_dir, "mean_field.json")
    if os.path.isfile(path):
        with open(path) as f:
            data = json.load(f)
        curves["mean_field"] = [(p["env_steps"], p["relative_gap"]) for p in data["curve"]]
        curves["mean_field_tstt"] = [(p["env_steps"], p["ue_ratio"]) for p in data["curve"]]
        if "price_of_anarchy" in data["curve"][0]:  # kept since issue 23
            curves["mean_field_poa"] = [
                (p["env_steps"], p["price_of_anarchy"]) for p in data["curve"]
            ]
        curves["logit_distance"] = [(p["env_steps"], p["logit_distance"]) for p in data["curve"]]
        curves["logit_equilibrium"] = [(0, data["logit_equilibrium"]["relative_gap"])]
        curves["regularised_exploitability"] = [(0, data["regularised_exploitability"])]
    return curves


FINAL_KINDS = (
    "greedy",
    "sampled",
    "mean_field",
    "mean_field_tstt",
    "greedy_poa",
    "sampled_poa",
    "mean_field_poa",
    "logit_distance",
    "logit_equilibrium",
    "regularised_exploitability",
)


def summarise(runs_dir: str, conditions: dict | None = None, committed: dict | None = None) -> dict:
    """Per condition: the seeds, final figures (mean, max, values) and curves. ``committed``
    (``{condition: {seed: curves}}``, a results folder's curves.json) adds the seeds whose run
    folders are not in ``runs_dir``; a seed run here wins."""
    from benchmarks.launchers import DONE, read_status

    summary: dict = {}
    for label in conditions or CONDITIONS:
        runs = sorted(glob.glob(os.path.join(runs_dir, f"{label}_seed*")))
        runs = [r for r in runs if (read_status(r) or {}).get("status") in DONE]
        per_seed = dict((committed or {}).get(label, {}))
        per_seed.update({os.path.basename(r).rsplit("seed", 1)[1]: run_curves(r) for r in runs})
        if not per_seed:
            continue
        per_seed = dict(sorted(per_seed.items()))
        final = {
            kind: [curves[kind][-1][1] for curves in per_seed.values() if curves.get(kind)]
            for kind in FINAL_KINDS
        }
        summary[label] = {
            "seeds": sorted(per_seed),
            "final": {
                k: {"mean": float(np.mean(v)), "max": float(np.max(v)), "values": v}
                for k, v in final.items()
                if v
            },
            "curves": per_seed,
        }
    return summary


def plot(summary: dict, path: str) -> None:
    """Relative gap over training on both networks, and the Sioux Falls expected flows' TSTT
    over the UE's (the target's band: within 1%)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    styles = {"mean_field": "-", "greedy": "--", "sampled": ":"}

    def draw(ax, label, kind, style):
        series = [dict(c[kind]) for c in summary[label]["curves"].values() if c.get(kind)]
        if not series:
            return
        algo = CONDITIONS[label][1]
        colour = COLOURS.get(label, COLOURS[algo])
        steps = sorted(set.intersection(*(set(s) for s in series)))
        values = np.array([[s[x] for x in steps] for s in series])
        name = f"{NAMES.get(label, algo)} {kind}"
        ax.plot(steps, values.mean(0), style, color=colour, label=name)
        ax.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.12)

    for ax, network in zip(axes, ("braess", "siouxfalls")):
        for label in summary:
            if CONDITIONS[label][0] == network:
                for kind, style in styles.items():
                    draw(ax, label, kind, style)
        ax.axhline(0.01, color="grey", lw=0.8)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(0.0, 1.0)
        ax.set_xscale("symlog", linthresh=1e3)
        ax.set_xlim(left=0.0)
        ax.set_title(f"{network}: relative gap to UE (mean, min-max over seeds)", fontsize=9)
        ax.set_xlabel("env steps (days x copies; linear below 1000)")
        ax.legend(fontsize=7)
    ax = axes[2]
    for label in summary:
        if CONDITIONS[label][0] == "siouxfalls":
            draw(ax, label, "mean_field_tstt", "-")
    for bound in (0.99, 1.01):
        ax.axhline(bound, color="grey", lw=0.8)
    ax.set_ylim(0.97, 1.05)
    ax.set_title("siouxfalls: TSTT / UE TSTT of the expected flows", fontsize=9)
    ax.set_xlabel("env steps (days x copies)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def launch(args, run_specs: list) -> None:
    """Train the runs of ``run_specs`` that have not finished, through the parsed launcher."""
    from benchmarks.grid import launcher_from_args
    from benchmarks.launchers import DONE, read_status

    todo = [s for s in run_specs if (read_status(s.run_dir) or {}).get("status") not in DONE]
    launcher_from_args(args).run(
        todo,
        lambda r: print(
            r.name, r.status, round(r.seconds, 1), r.error[-300:] if r.error else "", flush=True
        ),
    )


def make_parser(doc: str, runs_name: str, results: str) -> argparse.ArgumentParser:
    """The command line of a routing benchmark over a table of conditions (this one's and
    :mod:`benchmarks.routing_wardrop`'s): seeds, conditions, runs folder, launcher."""
    from benchmarks.grid import add_launcher_arguments

    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", nargs="*", default=[], help="algorithms or conditions to run")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", runs_name))
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument("--save", action="store_true", help=f"write {results}")
    add_launcher_arguments(parser, jobs=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__, "pma_routing", RESULTS).parse_args(argv)
    if not args.summarise_only:
        launch(args, specs(args.runs_dir, args.seeds, args.only))
    summary = summarise(args.runs_dir)
    brief = {label: data["final"] for label, data in summary.items()}
    print(
        json.dumps(
            {k: {m: round(v["mean"], 5) for m, v in d.items()} for k, d in brief.items()}, indent=1
        )
    )
    if args.save:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "summary.json"), "w") as f:
            json.dump(
                {label: {"seeds": d["seeds"], "final": d["final"]} for label, d in summary.items()},
                f,
                indent=1,
            )
        with open(os.path.join(RESULTS, "curves.json"), "w") as f:
            json.dump({label: d["curves"] for label, d in summary.items()}, f)
        plot(summary, os.path.join(RESULTS, "relative_gap.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
