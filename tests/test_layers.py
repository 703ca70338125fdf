"""The layers import downwards only: envs <- agents <- algorithms <- algorithms.runs <- train.py."""

import ast
import re
from pathlib import Path

import pytest

import envs

ROOT = Path(__file__).resolve().parent.parent
#: package -> the first-party packages its modules must not import (at any depth of the module)
FORBIDDEN = {
    "envs": ("agents", "algorithms", "train", "benchmarks"),
    "agents": ("algorithms", "train", "benchmarks"),
    "algorithms": ("algorithms.runs", "train", "benchmarks"),  # learners: not the runs layer
    "algorithms/runs": ("train", "benchmarks"),
}


def imported(path: Path) -> set[str]:
    """Every module a file imports, top level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    if package == "algorithms":  # the runs layer is checked on its own
        files = [f for f in files if "runs" not in f.relative_to(ROOT / package).parts]
    return files


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_no_layer_above_it(package):
    upward = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(package)
        for name in imported(path)
        if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN[package])
    }
    assert not upward


def test_train_py_is_the_loop_and_the_command_line():
    assert len((ROOT / "train.py").read_text().splitlines()) <= 300


def test_each_family_registers_its_scripted_policies():
    defaults = {
        "swarming-vicsek-v0": "vicsek",
        "donor-v0": "always-cooperate",
        "routing-braess-v0": "ue-routes",
    }
    for env_id, first in defaults.items():
        core = envs.make_vec(env_id, 1)
        assert next(iter(envs.scripted_policies(core))) == first, env_id
        core.close()
    assert envs.scripted_policies(envs.make_vec("foraging-v0", 1)) == {}


#: the largest module allowed in each layer (issue 27: MANSA's modules are smaller still)
SIZE_LIMITS = {"envs": 500, "agents": 500, "algorithms": 500, "algorithms/mansa": 400}


@pytest.mark.parametrize("package", sorted(SIZE_LIMITS))
def test_no_module_is_over_its_layers_size_limit(package):
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > SIZE_LIMITS[package]
    }
    assert not too_long


#: ``owner._attr``: another object's private attribute unless the owner is ``self`` or ``cls``
PRIVATE_ACCESS = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\._[a-z]\w*")


#: documented functions whose names start with an underscore
PUBLIC_BY_DOCS = {"os._exit", "sys._getframe"}


def private_accesses(line: str) -> list[str]:
    return [
        m.group(0)
        for m in PRIVATE_ACCESS.finditer(line)
        if m.group(1) not in ("self", "cls") and m.group(0) not in PUBLIC_BY_DOCS
    ]


def test_no_module_reads_another_objects_private_attributes():
    paths = [
        p
        for pkg in ("envs", "agents", "algorithms", "benchmarks")
        for p in (ROOT / pkg).rglob("*.py")
    ]
    found = []
    for path in sorted(paths) + [ROOT / "train.py"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(("#", '"""', ":")):  # comments and docstring references
                continue
            code = line.split("#", 1)[0]
            found += [f"{path.relative_to(ROOT)}:{number}: {hit}" for hit in private_accesses(code)]
    assert not found


def test_the_private_access_check_sees_chains_and_spares_self():
    assert private_accesses("x = learner._collect() + self.env._obs") == [
        "learner._collect",
        "self.env._obs",
    ]
    assert private_accesses("self._x = cls._y + super()._z") == []
