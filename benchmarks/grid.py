"""A grid of training runs (envs x algorithms x seeds) described by a YAML file, and running it.

Every benchmark that trains describes its runs as a grid and hands it to :func:`run_grid`,
which sends the runs that have not finished yet to a launcher of :mod:`benchmarks.launchers`
(a local process pool, Ray, or this process). Each run is a train.py run: its directory
under ``runs_dir`` holds what ``python train.py`` writes (config.yaml, eval.json,
metrics.jsonl, checkpoints, policy.pt), so a benchmark's analysis reads run directories
(:mod:`benchmarks.run_dirs`). A finished run leaves a status file, so running the same grid
again skips it (an interrupted run resumes from its last checkpoint). Changing a run's
config changes its directory name (it ends in a hash of the config), so a changed grid never
reuses stale runs.

Grid file (YAML; only ``envs`` and ``algorithms`` are required)::

    name: small                        # the title; default directories use it
    seeds: [0, 1, 2]                   # or a count: 3 means 0, 1, 2
    config: null                       # a train.py config file for every run
    overrides:                         # train.py key=value for every run
      total_env_steps: 100000
      eval.every_env_steps: 10000
    envs:
      - Foraging-8x8-2p-2f-coop-v3     # an id, or a mapping:
      - id: swarming-vicsek-v0
        kwargs: {num_agents: 20}       # env keyword arguments (env.kwargs)
        overrides: {env.num_envs: 8}   # train.py overrides for this env only
        label: vicsek-20               # optional: the task's name (default: from id and kwargs)
        config: configs/x.yaml         # optional: this env's train.py config file (instead of the grid's)
    algorithms:
      - ippo                           # a name, or a mapping:
      - {name: mappo, label: mappo-lr3e-4, overrides: {algo.lr: 3.0e-4}}
      - {name: mfac, sweep: {algo.lr: [1.0e-4, 3.0e-4]}}   # one entry per value (benchmarks/sweep.py)
    sweep: {algo.gamma: [0.95, 0.99]}  # optional: crossed with every algorithm entry
    post_run:                          # optional: called in the worker after each run finished,
      function: benchmarks.mansa:evaluate_run   # as function(run_dir, **kwargs); it may write
      kwargs: {episodes: 100}          # files into the run directory (they come back from Ray)
    imports: [my_envs]                 # modules that register a user's envs (in every worker)
    runs_dir: runs/leaderboard/small   # default runs/leaderboard/<name>
    out: benchmarks/results/small      # default benchmarks/results/<name>
    # the leaderboard's report only (benchmarks/leaderboard.py):
    bounds: {swarming-vicsek-v0: [0, 200]}   # optional fixed normalisation bounds per env id
    score: absolute                    # or final
    render: {max_steps: 100, seed: 0}  # the best-run GIFs (enabled: false to skip)
    reps: 50000                        # bootstrap resamples
    readme: README.md                  # optional: copy the two main tables into this file, between
                                       # <!-- leaderboard:small --> and <!-- /leaderboard:small -->

``post_run`` is not part of a run's hash: a finished run is not redone when it changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from algorithms.runs.evaluation import marl_eval_names
from benchmarks import sweep as sweeps
from benchmarks.launchers import (
    DONE,
    Launcher,
    PostRun,
    RunRecord,
    RunSpec,
    make_launcher,
    materialise,
    read_status,
)
from benchmarks.run_dirs import read_json, write_json

GRID_KEYS = (
    "name",
    "seeds",
    "config",
    "overrides",
    "envs",
    "algorithms",
    "bounds",
    "score",
    "render",
    "runs_dir",
    "out",
    "reps",
    "imports",
    "readme",
    "post_run",
    "sweep",
)


# ---------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class EnvEntry:
    """One task of the grid: an env id, its keyword arguments and train.py overrides for it."""

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    name: str | None = None
    """The task's label in tables (default: marl-eval's names, from the id and kwargs)."""
    config_file: str | None = None
    """A train.py config file for this env's runs (instead of the grid's)."""

    @property
    def names(self) -> tuple[str, str]:
        """marl-eval's (env_name, task_name)."""
        return marl_eval_names(self.id, self.kwargs)

    @property
    def label(self) -> str:
        return self.name or "/".join(self.names)


@dataclass(frozen=True)
class AlgoEntry:
    """One algorithm of the grid: a registered learner, its overrides and its column label."""

    name: str
    label: str
    overrides: tuple[str, ...] = ()


@dataclass
class Grid:
    """A leaderboard grid (see the module docstring for the YAML form)."""

    envs: list[EnvEntry]
    algorithms: list[AlgoEntry]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    name: str = "leaderboard"
    config_file: str | None = None
    overrides: tuple[str, ...] = ()
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    score: str = "absolute"
    render: dict[str, Any] = field(default_factory=dict)
    runs_dir: str | None = None
    out: str | None = None
    reps: int = 50_000
    imports: tuple[str, ...] = ()
    readme: str | None = None
    """A markdown file whose ``<!-- leaderboard:NAME -->`` block receives the main tables."""
    source: str | None = None
    last_overrides: tuple[str, ...] = ()
    """Overrides applied after every other (the command line's ``--set``)."""
    post_run: PostRun | None = None
    """Called in the worker after each run finished (see :class:`benchmarks.launchers.PostRun`)."""

    def __post_init__(self):
        if not self.envs or not self.algorithms or not self.seeds:
            raise ValueError("a grid needs at least one env, one algorithm and one seed")
        if self.score not in ("absolute", "final"):
            raise ValueError(f"score must be 'absolute' or 'final', got {self.score!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(
                f"name must be a plain directory name (letters, digits, _ . -), got {self.name!r}"
            )
        for kind, labels in (
            ("env", [e.label for e in self.envs]),
            ("algorithm", [a.label for a in self.algorithms]),
            ("seed", self.seeds),
        ):
            repeated = sorted({str(x) for x in labels if labels.count(x) > 1})
            if repeated:
                hint = " (give each a distinct label:)" if kind == "algorithm" else ""
                raise ValueError(
                    f"the grid lists {kind} {', '.join(repeated)} more than once{hint}"
                )
        unknown = set(self.render) - {"enabled", "max_steps", "seed"}
        if unknown:
            raise ValueError(
                f"unknown render keys {sorted(unknown)}; valid: enabled, max_steps, seed"
            )
        self.runs_dir = self.runs_dir or os.path.join("runs", "leaderboard", self.name)
        self.out = self.out or os.path.join("benchmarks", "results", self.name)

    def cells(self) -> list[Cell]:
        """Every run of the grid, env-major, then algorithm, then seed."""
        runs_dir = os.path.abspath(self.runs_dir)
        cells = []
        for env in self.envs:
            config_file = env.config_file or self.config_file
            config_text = ""
            if config_file:
                with open(config_file) as f:
                    config_text = f.read()
            for algo in self.algorithms:
                for seed in self.seeds:
                    overrides = [
                        *self.overrides,
                        *env.overrides,
                        *algo.overrides,
                        *self.last_overrides,
                        f"env.id={env.id}",
                        *(
                            f"env.kwargs.{k}={_dotlist_value(v)}"
                            for k, v in sorted(env.kwargs.items())
                        ),
                        f"algo={algo.name}",
                        f"seed={seed}",
                    ]
                    digest = hashlib.sha1(
                        json.dumps([config_text, overrides]).encode()
                    ).hexdigest()[:8]
                    name = f"{slug(env.name or env.id)}__{slug(algo.label)}__seed{seed}__{digest}"
                    full = (
                        *overrides,
                        f"run_name={name}",
                        f"log.dir={runs_dir}",
                        "log.progress=false",
                    )
                    spec = RunSpec(
                        name,
                        os.path.join(runs_dir, name),
                        full,
                        config_file,
                        digest,
                        self.imports,
                        post_run=self.post_run,
                    )
                    cells.append(Cell(env, algo, seed, spec))
        return cells


@dataclass(frozen=True)
class Cell:
    """One run of the grid: which task, algorithm and seed, and its launch spec."""

    env: EnvEntry
    algo: AlgoEntry
    seed: int
    spec: RunSpec


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _dotlist_value(value: Any) -> str:
    """A value as OmegaConf's dotlist parser reads it back (strings as they are)."""
    return value if isinstance(value, str) else json.dumps(value)


def _overrides(mapping: Any, where: str) -> tuple[str, ...]:
    if mapping is None:
        return ()
    if isinstance(mapping, (list, tuple)):
        items = [str(x) for x in mapping]
        bad = [x for x in items if "=" not in x]
        if bad:
            raise ValueError(f"{where}: overrides must be key=value, got {bad}")
        return tuple(items)
    if not isinstance(mapping, dict):
        raise TypeError(f"{where}: overrides must be a mapping of train.py keys to values")
    return tuple(f"{k}={_dotlist_value(v)}" for k, v in mapping.items())


def _check_keys(mapping: dict, allowed: Sequence[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            from envs.hints import closest_hint

            raise ValueError(f"{where}: unknown key '{key}'{closest_hint(str(key), allowed)}")


def _env_entry(item: Any) -> EnvEntry:
    if isinstance(item, str):
        return EnvEntry(item)
    if not isinstance(item, dict) or "id" not in item:
        raise ValueError(f"envs: each entry is an env id or a mapping with 'id', got {item!r}")
    _check_keys(
        item, ("id", "kwargs", "overrides", "label", "config"), f"envs entry {item.get('id')}"
    )
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise TypeError(f"envs entry {item['id']}: kwargs must be a mapping")
    return EnvEntry(
        str(item["id"]),
        dict(kwargs),
        _overrides(item.get("overrides"), f"envs entry {item['id']}"),
        str(item["label"]) if item.get("label") else None,
        item.get("config"),
    )


def _algo_entries(item: Any, common_sweep: Any = None) -> list[AlgoEntry]:
    """An algorithms entry: one AlgoEntry, or one per combination of its sweep and the grid's."""
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict) or "name" not in item:
        raise ValueError(f"algorithms: each entry is a name or a mapping with 'name', got {item!r}")
    where = f"algorithms entry {item.get('name')}"
    _check_keys(item, ("name", "label", "overrides", "sweep"), where)
    name = str(item["name"])
    label = str(item.get("label") or name)
    overrides = _overrides(item.get("overrides"), where)
    sweep = sweeps.merged(common_sweep, item.get("sweep"), where)
    return [
        AlgoEntry(name, f"{label}[{suffix}]" if suffix else label, (*overrides, *swept))
        for swept, suffix in sweeps.combinations(sweep, where)
    ]


def _seeds(value: Any) -> list[int]:
    if isinstance(value, bool):
        raise TypeError(f"seeds must be a count or a list of integers, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"seeds must be at least 1, got {value}")
        return list(range(value))
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    ):
        return [int(s) for s in value]
    raise ValueError(f"seeds must be a count or a non-empty list of integers, got {value!r}")


def grid_from_dict(
    data: dict, source: str | None = None, last_overrides: Sequence[str] = ()
) -> Grid:
    """A :class:`Grid` from the YAML mapping; unknown keys fail naming the closest valid one."""
    if not isinstance(data, dict):
        raise TypeError(
            "a grid file must hold a mapping (see python -m benchmarks.leaderboard --help)"
        )
    _check_keys(data, GRID_KEYS, "grid")
    for required in ("envs", "algorithms"):
        if not data.get(required):
            raise ValueError(f"grid: '{required}' is required and must list at least one entry")
    bounds = {}
    for key, pair in (data.get("bounds") or {}).items():
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ValueError(f"bounds: {key} must be [low, high], got {pair!r}")
        bounds[str(key)] = (float(pair[0]), float(pair[1]))
    return Grid(
        envs=[_env_entry(e) for e in data["envs"]],
        algorithms=[e for a in data["algorithms"] for e in _algo_entries(a, data.get("sweep"))],
        seeds=_seeds(data.get("seeds", 3)),
        name=str(
            data.get("name")
            or (os.path.splitext(os.path.basename(source))[0] if source else "leaderboard")
        ),
        config_file=data.get("config"),
        overrides=_overrides(data.get("overrides"), "overrides"),
        bounds=bounds,
        score=str(data.get("score", "absolute")),
        render=dict(data.get("render") or {}),
        runs_dir=data.get("runs_dir"),
        out=data.get("out"),
        reps=int(data.get("reps", 50_000)),
        imports=tuple(str(m) for m in data.get("imports") or ()),
        readme=data.get("readme"),
        source=source,
        last_overrides=tuple(last_overrides),
        post_run=_post_run(data.get("post_run")),
    )


def _post_run(item: Any) -> PostRun | None:
    if item is None:
        return None
    if isinstance(item, str):
        item = {"function": item}
    if not isinstance(item, dict) or "function" not in item:
        raise ValueError(
            f"post_run: a 'module:function' or a mapping with 'function', got {item!r}"
        )
    _check_keys(item, ("function", "kwargs"), "post_run")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise TypeError("post_run: kwargs must be a mapping")
    return PostRun(str(item["function"]), tuple(sorted(kwargs.items())))


def load_grid(path: str) -> Grid:
    """Read a grid YAML file."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ValueError(f"grid file {path} does not exist") from None
    return grid_from_dict(data, source=path)


# ---------------------------------------------------------------------- running
@dataclass
class RunRow:
    """A grid cell and how its run ended."""

    cell: Cell
    record: RunRecord
    skipped: bool = False

    def as_json(self) -> dict:
        env, algo = self.cell.env, self.cell.algo
        return {
            "name": self.cell.spec.name,
            "env_id": env.id,
            "env_kwargs": env.kwargs,
            "task": env.label,
            "algorithm": algo.label,
            "seed": self.cell.seed,
            "status": self.record.status,
            "skipped": self.skipped,
            "error": self.record.error,
            "env_steps": self.record.env_steps,
            "seconds": round(self.record.seconds, 2),
            "run_dir": os.path.relpath(self.cell.spec.run_dir),
        }


def _finished(cell: Cell) -> dict | None:
    status = read_status(cell.spec.run_dir)
    if (
        status
        and status.get("status") in DONE
        and status.get("config_hash") == cell.spec.config_hash
        and os.path.isfile(os.path.join(cell.spec.run_dir, "eval.json"))
    ):
        return status
    return None


def run_grid(
    grid: Grid,
    launcher: Launcher | None,
    log: Callable[[str], None] = print,
    select: Callable[[Cell], bool] | None = None,
    accumulate: bool = False,
) -> list[RunRow]:
    """Run the grid's unfinished runs with ``launcher`` (None: run nothing); rows in grid order.

    ``select``, if given, keeps only the cells it accepts (a benchmark's subset of its grid).
    ``runs.json`` in ``grid.out`` is rewritten as each run ends, so an interrupted grid
    leaves an up-to-date account of what finished. With ``accumulate`` the entries already in
    it for runs outside these cells are kept (a table filled by several invocations).
    """
    cells = [c for c in grid.cells() if select is None or select(c)]
    rows: dict[str, RunRow] = {}
    todo: list[Cell] = []
    for cell in cells:
        status = _finished(cell)
        if status is not None:
            record = RunRecord(
                cell.spec.name,
                status["status"],
                env_steps=int(status.get("env_steps", 0)),
                seconds=float(status.get("seconds", 0.0)),
            )
            rows[cell.spec.name] = RunRow(cell, record, skipped=True)
        else:
            todo.append(cell)
    runs_file = os.path.join(grid.out, "runs.json")
    names = {c.spec.name for c in cells}

    def save():
        # re-read at each save: another invocation filling the same table may have written since
        others = []
        if accumulate and os.path.isfile(runs_file):
            others = [r for r in read_json(grid.out, "runs.json") if r.get("name") not in names]
        ours = [rows[c.spec.name].as_json() for c in cells if c.spec.name in rows]
        write_json(runs_file, [*others, *ours])

    by_name = {c.spec.name: c for c in todo}
    log(
        f"{grid.name}: {len(cells)} runs, {len(cells) - len(todo)} finished before, "
        f"{len(todo) if launcher is not None else 0} to run"
    )

    def on_result(record: RunRecord) -> None:
        cell = by_name[record.name]
        materialise(record, cell.spec)
        rows[record.name] = RunRow(cell, record)
        done = sum(1 for r in rows.values() if not r.skipped)
        detail = f" ({record.error.splitlines()[0]})" if record.error else ""
        log(f"[{done}/{len(todo)}] {record.name}: {record.status} in {record.seconds:.0f}s{detail}")
        save()

    try:
        if launcher is not None and todo:
            launcher.run([c.spec for c in todo], on_result)
    finally:  # also when interrupted: runs.json says what finished and what did not
        for cell in todo:
            if cell.spec.name not in rows:
                rows[cell.spec.name] = RunRow(cell, RunRecord(cell.spec.name, "not run"))
        save()
    return [rows[c.spec.name] for c in cells]


# ---------------------------------------------------------------------- command lines
def add_launcher_arguments(parser: argparse.ArgumentParser, jobs: int | None = None) -> None:
    """``--launcher``, ``--jobs`` and ``--address``: where a benchmark's runs execute."""
    parser.add_argument(
        "--launcher",
        default="process",
        choices=("process", "ray", "serial"),
        help="a local process pool (default), Ray, or this process (debugging)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=jobs,
        help="runs at once (process pool / local Ray CPUs; default: %(default)s, None: CPU count)",
    )
    parser.add_argument("--address", help="join this Ray cluster (with --launcher ray)")


#: a benchmark's command-line options that set a train.py key for every run: (key, help)
RUN_OPTIONS = {
    "env_steps": ("total_env_steps", "env steps per run"),
    "num_envs": ("env.num_envs", "env copies stepped together"),
    "eval_every": (
        "eval.every_env_steps",
        "env steps between learning-curve points (0: at the end)",
    ),
    "curve_episodes": ("eval.episodes", "greedy episodes per curve point"),
}


def benchmark_parser(doc: str, grid_file: str) -> argparse.ArgumentParser:
    """A benchmark's command line (``doc``: its module docstring): its grid file (positional,
    default ``grid_file``) and the options that replace its parts (:func:`benchmark_grid_data`),
    the launcher's (one job by default), and ``--out`` / ``--runs-dir``."""
    parser = argparse.ArgumentParser(
        description=doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc,
    )
    parser.add_argument(
        "grid", nargs="?", default=grid_file, help="grid file (default: %(default)s)"
    )
    parser.add_argument("--envs", nargs="+", help="env ids (replace the grid's)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (replace the grid's)")
    for option, (_, text) in RUN_OPTIONS.items():
        parser.add_argument(f"--{option.replace('_', '-')}", type=int, help=text)
    parser.add_argument(
        "--eval-episodes", type=int, help="greedy episodes of the final evaluation (post_run)"
    )
    add_launcher_arguments(parser, jobs=1)
    parser.add_argument("--out", help="output directory (default: the grid's out)")
    parser.add_argument("--runs-dir", help="where run directories go (default: the grid's)")
    return parser


def benchmark_grid_data(args: argparse.Namespace) -> dict:
    """The grid file's mapping with :func:`benchmark_parser`'s replacements."""
    with open(args.grid) as f:
        data = yaml.safe_load(f) or {}
    for key in ("envs", "seeds"):
        if getattr(args, key):
            data[key] = list(getattr(args, key))
    data["overrides"] = dict(data.get("overrides") or {})
    for option, (key, _) in RUN_OPTIONS.items():
        if getattr(args, option) is not None:
            data["overrides"][key] = getattr(args, option)
    if args.eval_episodes is not None:
        data["post_run"].setdefault("kwargs", {})["episodes"] = args.eval_episodes
    for key in ("out", "runs_dir"):
        if getattr(args, key):
            data[key] = getattr(args, key)
    return data


def load_or_exit(parser: argparse.ArgumentParser, data: dict, source: str) -> Grid:
    """:func:`grid_from_dict`, a bad grid reported as the command line's error."""
    try:
        return grid_from_dict(data, source=source)
    except (OSError, ValueError, TypeError) as err:
        parser.error(str(err))


def launcher_from_args(args: argparse.Namespace) -> Launcher:
    """The launcher :func:`add_launcher_arguments`' options name."""
    return make_launcher(args.launcher, args.jobs, args.address)


def finished_rows(rows: Sequence[RunRow]) -> list[RunRow]:
    """The rows whose run finished (or solved), in grid order."""
    return [r for r in rows if r.record.done]
