"""Train a learner on a marlgym env (DESIGN 4).

    python train.py                                          # the default job: IPPO on Foraging-8x8-2p-2f-coop-v3
    python train.py --config configs/mappo_foraging_8x8_2p_2f_coop.yaml algo.lr=3e-4 seed=1
    python train.py algo=mfac env.id=Foraging-10x10-3p-3f-v3 env.num_envs=128
    python train.py --resume runs/<name>                     # continue a run where it stopped
    python train.py env.id=lamps-v0 --import my_envs          # a user's env, registered by my_envs.py

Configuration: typed dataclasses (algorithms/runs/config.py, and each learner's own in
``algorithms/``) hold every default; a YAML file holds overrides only; ``key=value`` arguments
override both. An unknown or mistyped key, a value of the wrong type or out of range, an
unknown env id or env keyword all fail before training starts, naming the key and the closest
valid one.

A run writes ``runs/<name>/``: ``config.yaml`` (resolved), TensorBoard scalars
(``charts/episodic_return``, ``charts/SPS``, ``charts/train_seconds``, ``losses/*``, ``env/*``),
``metrics.jsonl`` (one line per update; ``log.csv=true`` adds ``metrics.csv``, ``log.wandb=true``
an offline wandb run), ``checkpoints/`` (atomic, every ``checkpoint.every_updates`` updates and at
the end), ``policy.pt`` (the standalone policy, see agents/policy.py), ``eval.json`` (periodic
evaluations in the marl-eval layout). Ctrl-C or SIGTERM finishes the current update, saves a
checkpoint and exits (a second one stops at once); a NaN or inf loss stops the run naming the
loss and the update, leaving the last good checkpoint in place. A process training in a run
directory locks it (``train.lock``); a resumed run cuts its logs back to its checkpoint and
redoes the rest, so its files equal an uninterrupted run's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

import envs
from algorithms import Learner, NonFiniteLossError

# The runs layer (algorithms/runs/); train.py re-exports the names tests and benchmarks use.
from algorithms.runs import acting, rundir
from algorithms.runs.checkpoint import (  # noqa: F401
    CheckpointError,
    initial_trainer_state,
    kept,
    latest_checkpoint,
    load_checkpoint,
    restore,
    resume_state,
    run_dir_of,
    save_run_checkpoint,
)
from algorithms.runs.config import (  # noqa: F401
    ConfigError,
    TrainConfig,
    build,
    catalogue,
    config_yaml,
    load_config,
    load_run_config,
    make_env,
    save_config,
)
from algorithms.runs.evaluation import EvalProtocol, MarlEvalLog, evaluate
from algorithms.runs.interrupt import DeferredInterrupt
from algorithms.runs.logger import RunLogger, episode_scalars, rewind_logs
from algorithms.runs.rundir import RunResult
from envs.routing import TNTPFormatError  # a user network (--import) that cannot be read


class Run:
    """One training run: its learner, directory and logs, and the state its checkpoints keep."""

    def __init__(self, cfg: TrainConfig, resume: str | None = None):
        self.cfg = cfg
        _, self.learner = build(cfg)
        self.learner.set_horizon(cfg.total_env_steps)
        if resume is None and cfg.init_policy:  # before the run directory exists
            acting.start_from(self.learner, cfg.init_policy)
        self.protocol = EvalProtocol(cfg.seed, cfg.eval.episodes_seed, cfg.eval.actions)
        self.state = initial_trainer_state()  # what a checkpoint keeps besides the learner
        self.run_dir = rundir.new_run_dir(cfg) if resume is None else rundir.of(resume)
        self.lock = rundir.RunLock(self.run_dir)  # held until close()
        try:
            self.open(resume)
        except BaseException:
            self.lock.release()
            raise
        self.recent = deque(self.state["recent"], maxlen=cfg.log.return_window)
        self.last_eval: float | None = None
        self.summary: dict = {}  # eval.json's summary, once the final evaluation is done
        self.start_steps, self.start_time = self.learner.env_steps, self.state["train_time"]

    def open(self, resume: str | None) -> None:
        """Restore the checkpoint (if resuming), cut the logs back to it (what came after is
        redone), and open them."""
        cfg, run_dir = self.cfg, self.run_dir
        if resume is not None:
            self.state.update(resume_state(self.learner, resume, cfg))
            rewind_logs(run_dir, self.state, self.learner.updates)
        save_config(cfg, os.path.join(run_dir, rundir.CONFIG_FILE))
        self.logger = RunLogger(run_dir, cfg, self.learner.env_steps)
        saved = self.state.get("eval_log")  # the checkpoint's copy of eval.json
        path, env = os.path.join(run_dir, rundir.EVAL_FILE), cfg.env
        self.eval_log = MarlEvalLog(path, env.id, env.kwargs, cfg.algo.name, cfg.seed, saved)
        if resume is not None and saved is None:  # a checkpoint from before that copy
            self.eval_log.truncate(self.learner.env_steps)

    def close(self) -> None:
        self.logger.close()
        self.lock.release()

    # ------------------------------------------------------------------ the loop
    def loop(self, interrupt: DeferredInterrupt, on_update: Callable | None) -> tuple[str, str]:
        """Train to ``total_env_steps`` (or until solved or interrupted); return (status, message)."""
        cfg, learner = self.cfg, self.learner
        if self.eval_due():
            self.periodic_eval()
        status, message = "finished", ""
        while learner.env_steps < cfg.total_env_steps:
            metrics = self.update()
            if on_update is not None:
                on_update(learner, metrics)
            if self.eval_due():
                self.periodic_eval()
                if cfg.eval.stop_return is not None and self.last_eval >= cfg.eval.stop_return:
                    status = "solved"
                    message = f"evaluation return {self.last_eval:.3f} >= eval.stop_return"
                    break
            recent = float(np.mean(self.recent)) if self.recent else None
            self.logger.progress(learner.env_steps, metrics["charts/SPS"], recent, self.last_eval)
            if interrupt.requested:
                status, message = "interrupted", f"interrupted by {interrupt.name}"
                break
            if learner.updates % cfg.checkpoint.every_updates == 0:
                self.checkpoint()
        self.checkpoint()
        if status != "interrupted":
            self.final_eval()
        return status, message

    def update(self) -> dict[str, float]:
        """One learner update, timed; log its losses and the episodes that ended during it."""
        learner = self.learner
        tick = time.perf_counter()
        metrics = learner.train_iteration()
        self.state["train_time"] += time.perf_counter() - tick
        episodes = learner.episodes.drain()
        self.recent.extend(episodes.get("return", []))
        elapsed = max(self.state["train_time"] - self.start_time, 1e-9)
        metrics["charts/SPS"] = (learner.env_steps - self.start_steps) / elapsed
        metrics["charts/train_seconds"] = self.state["train_time"]  # wall-clock, resumes included
        metrics.update(episode_scalars(episodes))
        self.logger.scalars(metrics, learner.env_steps, learner.updates)
        return metrics

    # ------------------------------------------------------------------ evaluation
    def eval_due(self) -> bool:
        every = self.cfg.eval.every_env_steps
        return bool(every) and self.learner.env_steps >= self.state["next_eval"]

    def evaluate(self, episodes: int, policy_state: dict | None = None, index: int | None = None):
        """Evaluate the learner (or ``policy_state``, a saved best policy) on the protocol's
        episodes: those of periodic evaluation ``index``, or the held-out set if None."""
        seed = self.protocol.seed(episodes, index)
        make, needs_state = (lambda b: make_env(self.cfg, b)), self.learner.act_needs_state
        with acting.playing(self.learner, policy_state) as policy_state:
            act = self.protocol.act(self.learner, seed, policy_state)
            return evaluate(act, make, episodes, seed, needs_state=needs_state)

    def periodic_eval(self) -> None:
        """Evaluate, log to eval.json and TensorBoard, and keep the best policy so far."""
        learner = self.learner
        results = self.evaluate(self.cfg.eval.episodes, index=self.eval_log.points)
        self.eval_log.add_step(learner.env_steps, results)
        mean = float(np.mean(results["return"]))
        scalars = {f"eval/{k}": float(np.mean(v)) for k, v in results.items() if k != "return"}
        self.logger.scalars({"eval/return": mean, **scalars}, learner.env_steps, learner.updates)
        if mean > self.state["best_return"] and (kept := acting.snapshot(learner)) is not None:
            self.state["best_return"], self.state["best_step"] = mean, learner.env_steps
            self.state["best_policy"] = kept
            self.save_policy(rundir.BEST_POLICY_FILE)
        self.state["last_eval_step"] = learner.env_steps
        self.state["next_eval"] = learner.env_steps + self.cfg.eval.every_env_steps
        self.last_eval = mean

    def final_eval(self) -> None:
        """Evaluate the last policy (unless just done), then the best one (and the last, if
        another) on the absolute metric's episodes, and write eval.json's summary."""
        if self.state["last_eval_step"] != self.learner.env_steps:
            self.periodic_eval()
        state, steps, episodes = self.state, self.learner.env_steps, self.cfg.eval.absolute_episodes
        best = self.evaluate(episodes, state["best_policy"]) if episodes else None
        same = best is None or state["best_step"] in (-1, steps)  # the final policy is the best
        final = best if same else self.evaluate(episodes)
        if best is not None:
            self.eval_log.set_absolute(best)
        about = self.protocol.describe(self.learner)
        self.summary = rundir.run_summary(about, state, steps, self.last_eval, best, final)
        self.eval_log.set_summary(self.summary)

    # ------------------------------------------------------------------ files
    def save_policy(self, name: str) -> None:
        metadata = rundir.policy_metadata(self.cfg, self.learner.env_steps)
        path, text = os.path.join(self.run_dir, name), config_yaml(self.cfg)
        acting.save(self.learner, path, metadata, text)

    def checkpoint(self) -> None:
        """Save a checkpoint (keeping the newest few) and the current standalone policy."""
        self.state["recent"] = list(self.recent)
        self.logger.flush()  # the logs on disk reach the checkpoint, and resume cuts them to it
        self.state["log_offsets"] = self.logger.offsets()
        self.state["eval_log"] = self.eval_log.data
        save_run_checkpoint(self.run_dir, self.cfg, self.learner, self.state)
        if acting.exportable(self.learner):
            self.save_policy(rundir.POLICY_FILE)


def train(
    cfg: TrainConfig,
    resume: str | None = None,
    on_update: Callable[[Learner, dict[str, float]], None] | None = None,
) -> RunResult:
    """Run (or resume) training; see the module docstring for what is written.

    Args:
        cfg: the configuration (a resumed run's saved config, possibly with overrides).
        resume: a run directory, or a checkpoint file, to continue from.
        on_update: called after every update with ``(learner, metrics)`` (e.g. by tests).
    """
    run = Run(cfg, resume)
    run_dir = run.run_dir
    with DeferredInterrupt(run.logger.message) as interrupt:
        try:
            status, message = run.loop(interrupt, on_update)
        except NonFiniteLossError as err:
            status, message = "failed", f"{err}; {kept(run_dir)}"
        except OSError as err:  # e.g. a full disk
            status, message = "failed", f"cannot write to {run_dir}: {err}; {kept(run_dir)}"
        except KeyboardInterrupt:
            status = "interrupted"
            message = f"stopped by a second {interrupt.name} without saving; {kept(run_dir)}"
        finally:
            run.close()
    if status == "interrupted" and "without saving" not in message:
        message += f"; checkpoint saved, continue with: python train.py --resume {run_dir}"
    steps, updates, signum = run.learner.env_steps, run.learner.updates, int(interrupt.signum)
    best = run.state["best_return"] if run.state["best_return"] > -np.inf else None
    result = RunResult(run_dir, status, steps, updates, run.last_eval, message, signum, best)
    result.eval_summary = run.summary
    return result


# ---------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train a marlgym learner.",
        epilog=f"{__doc__}\n{catalogue()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file of overrides (configs/*.yaml)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue runs/<name> (or a checkpoint file)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    parser.add_argument("--docs", action="store_true", help="with --print-config: each key's doc")
    envs.add_import_option(parser, "first")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. algo=mappo algo.lr=3e-4",
    )
    args = parser.parse_intermixed_args(argv)  # key=value before and after options
    try:
        envs.import_env_modules(args.imports)
        if args.resume and args.config:
            raise ConfigError("--resume uses the run's saved config.yaml; do not pass --config")
        load = load_run_config if args.resume else load_config
        cfg = load(args.resume or args.config, args.overrides)
        if args.docs and not args.print_config:
            raise ConfigError(
                "--docs goes with --print-config (python train.py --print-config --docs)"
            )
        if args.print_config:
            print(config_yaml(cfg, docs=args.docs), end="")
            return 0
        result = train(cfg, resume=args.resume)
    except (ConfigError, CheckpointError, ModuleNotFoundError, TNTPFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary(), file=sys.stderr if result.status == "failed" else sys.stdout)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
