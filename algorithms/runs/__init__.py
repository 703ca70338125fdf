"""The runs layer: what a training run reads and writes, between train.py and the learners.

``train.py`` is the loop and the command line; everything around the loop lives here, one
module per concept:

- :mod:`~algorithms.runs.config`: the typed config schema (:class:`TrainConfig`), the loader
  with its checks and overrides (:func:`load_config`), and :func:`make_env` / :func:`build`.
- :mod:`~algorithms.runs.checkpoint`: the checkpoint format; atomic saves, the latest, checked loads.
- :mod:`~algorithms.runs.rundir`: the run directory: its name, creation, file names and lock.
- :mod:`~algorithms.runs.logger`: TensorBoard scalars, ``metrics.jsonl`` and the progress bar.
- :mod:`~algorithms.runs.evaluation`: greedy evaluation and the marl-eval JSON log.
- :mod:`~algorithms.runs.interrupt`: Ctrl-C and SIGTERM deferred to the end of an update.
- :mod:`~algorithms.runs.files`: atomic file writes.
- :mod:`~algorithms.runs.render`: the render command (``python -m algorithms.runs.render``);
  import it by name (it is not loaded here).

Layers import downwards only: envs <- agents <- algorithms <- algorithms.runs <- train.py.
No learner module imports this package.
"""

from algorithms.runs.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from algorithms.runs.config import (
    CheckpointConfig,
    ConfigError,
    EnvConfig,
    EvalConfig,
    LogConfig,
    TrainConfig,
    build,
    load_config,
    load_run_config,
    make_env,
)
from algorithms.runs.evaluation import MarlEvalLog, evaluate, marl_eval_names
from algorithms.runs.files import atomic_path, write_text_atomic
from algorithms.runs.logger import RunLogger
from algorithms.runs.rundir import new_run_dir

__all__ = [
    "CheckpointConfig",
    "CheckpointError",
    "ConfigError",
    "EnvConfig",
    "EvalConfig",
    "LogConfig",
    "MarlEvalLog",
    "RunLogger",
    "TrainConfig",
    "atomic_path",
    "build",
    "evaluate",
    "latest_checkpoint",
    "load_checkpoint",
    "load_config",
    "load_run_config",
    "make_env",
    "marl_eval_names",
    "new_run_dir",
    "restore",
    "save_checkpoint",
    "write_text_atomic",
]
