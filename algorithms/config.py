"""Build a config dataclass from layers of overrides, checked, with errors that name the key.

One function for every place that turns user input into a learner's config: MANSA's
sub-learners (``algo.il_cfg``, ``algo.cl_cfg``), tests, and the trainer's loader. Overrides are
mappings; a nested mapping (``{"net": {"hidden_size": 16}}``) or a dotted key
(``{"net.hidden_size": 16}``) reaches a nested dataclass. Values are converted and type-checked
by OmegaConf's structured configs; the dataclass's ``__post_init__`` checks ranges.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from envs.hints import closest_hint

T = TypeVar("T")


def nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` with dotted keys expanded into nested dicts (``{"a.b": 1} -> {"a": {"b": 1}}``)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, DictConfig):
            value = OmegaConf.to_container(value)
        if isinstance(value, Mapping):
            value = nested(value)
        *parents, leaf = str(key).split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = {**node[leaf], **value}  # two layers that both reach into one dataclass
        else:
            node[leaf] = value
    return out


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (the nearest class in the MRO wins).

    Field docstrings are not kept by Python; they are read from the source, so a class
    without source (defined in ``python -c``) has none.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        body = ast.parse(inspect.cleandoc("\n" + source)).body[0].body
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _declares_int(hint: Any) -> bool:
    """Whether a field's type admits an int and no float (``int``, ``int | None``)."""
    options = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    return int in options and float not in options


def integral_floats(layer: dict[str, Any], schema: DictConfig) -> dict[str, Any]:
    """``layer`` with floats of whole value (``1e6``, ``2.0``: YAML and ``key=value`` read ``1e6`` as a
    float) turned into ints where ``schema``'s dataclass declares an int; other values untouched."""
    owner = OmegaConf.get_type(schema)
    hints = typing.get_type_hints(owner) if dataclasses.is_dataclass(owner) else {}
    out = {}
    for key, value in layer.items():
        node = schema[key] if key in schema else None
        if isinstance(value, dict) and isinstance(node, DictConfig):
            value = integral_floats(value, node)
        elif isinstance(value, float) and value.is_integer() and _declares_int(hints.get(key)):
            value = int(value)
        out[key] = value
    return out


def _declared_type(schema: DictConfig, dotted: str) -> str:
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(schema, parent) if parent else schema
    owner = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    try:
        hint = typing.get_type_hints(owner)[leaf]
    except (TypeError, KeyError, NameError):
        return "another type"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def check_ranges(
    config: Any,
    prefix: str = "algo",
    positive: Sequence[str] = (),
    unit: Sequence[str] = (),
    non_negative: Sequence[str] = (),
) -> None:
    """Refuse a field of ``config`` out of its range, naming it ``<prefix>.<field>``: the
    ``positive`` fields must be > 0, the ``unit`` ones lie in [0, 1], the ``non_negative`` >= 0."""
    rules = (
        (positive, lambda v: v > 0, "must be > 0"),
        (unit, lambda v: 0.0 <= v <= 1.0, "must lie in [0, 1]"),
        (non_negative, lambda v: v >= 0, "must be >= 0"),
    )
    for keys, ok, says in rules:
        for key in keys:
            value = getattr(config, key)
            if not ok(value):
                raise ValueError(f"{prefix}.{key} {says}, got {value}")


def build_config(config_cls: type[T], *layers: Mapping[str, Any], prefix: str = "algo") -> T:
    """``config_cls``'s defaults with ``layers`` of overrides applied in order, checked.

    Args:
        config_cls: a dataclass (nested dataclass fields are reached by nested keys).
        layers: override mappings, later ones winning (e.g. a file's, then the command line's).
        prefix: how error messages spell the config's own key (``algo``, ``algo.il_cfg``).

    Raises:
        ValueError: as :func:`merge_layers`.
    """
    name = getattr(config_cls, "name", "")
    owner = f" for {name}" if isinstance(name, str) and name else ""
    return merge_layers(config_cls, [(layer, owner) for layer in layers], prefix)


def merge_layers(
    defaults: Any, layers: Sequence[tuple[Mapping[str, Any], str]], prefix: str = ""
) -> Any:
    """``defaults`` (a dataclass or an instance of one) with each ``(overrides, where)`` merged
    on top in turn; ``where`` (e.g. ``" (from the command line)"``) follows the key in errors.

    Raises:
        ValueError: an unknown key (naming the closest valid one), a value of the wrong type
            (naming the expected type), or a value out of range (the dataclass's own message,
            its ``algo.`` keys spelled with ``prefix``).
    """
    spell = (lambda key: f"{prefix}.{key}") if prefix else (lambda key: key)
    schema = OmegaConf.structured(defaults)
    merged = schema
    for layer, where in layers:
        try:
            merged = OmegaConf.merge(
                merged, OmegaConf.create(integral_floats(nested(layer), schema))
            )
        except ConfigKeyError as err:
            full = str(err.full_key or err.key)
            parent = full.rpartition(".")[0]
            node = OmegaConf.select(schema, parent) if parent else schema
            choices = [spell(f"{parent + '.' if parent else ''}{k}") for k in node]
            raise ValueError(
                f"unknown config key '{spell(full)}'{where}{closest_hint(spell(full), choices)}"
            ) from None
        except OmegaConfBaseException as err:
            full = str(getattr(err, "full_key", "") or "")
            raise ValueError(
                f"config key '{spell(full)}'{where} expects {_declared_type(schema, full)}: "
                f"{str(err).splitlines()[0]}"
            ) from None
    try:
        return OmegaConf.to_object(merged)
    except ValueError as err:
        message = str(err)
        if prefix not in ("", "algo"):
            message = message.replace("algo.", f"{prefix}.")
        raise ValueError(message) from None
