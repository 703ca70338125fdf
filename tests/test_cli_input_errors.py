"""Bad input given to train.py ends in one ``error:`` line naming the key and what it accepts,
never in a traceback from deep inside: env keywords of the wrong type, a log.dir that cannot
hold runs, a user's network file (``--import``) that cannot be read."""

from __future__ import annotations

import os
import sys

import pytest
from toy_envs import MatchParallelEnv

import envs
from train import ConfigError, load_config, main, make_env


def _refused(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["env.kwargs.penalty=abc"],
            "env.kwargs.penalty for Foraging-8x8-2p-2f-coop-v3 expects "
            "float, default 0.0; got the string 'abc'",
        ),
        (
            ["env.kwargs.penalty=[1]"],
            "env.kwargs.penalty for Foraging-8x8-2p-2f-coop-v3 expects float, default 0.0; got [1]",
        ),
        (
            ["env.kwargs.sight=far"],
            "env.kwargs.sight for Foraging-8x8-2p-2f-coop-v3 expects int "
            "or None, default None; got the string 'far'",
        ),
        (
            ["env.id=swarming-vicsek-v0", "env.kwargs.num_agents=many"],
            "env.kwargs.num_agents for swarming-vicsek-v0 expects int, default 100; got the string 'many'",
        ),
        (
            ["env.id=swarming-vicsek-v0", "env.kwargs.noise=nan"],
            "got the string 'nan' (YAML reads nan and inf as strings; write .nan or .inf)",
        ),
        (
            ["env.id=swarming-vicsek-v0", "env.kwargs.num_agents=1.5"],
            "env.kwargs.num_agents must be an integer >= 1, got 1.5 (for swarming-vicsek-v0)",
        ),
        (
            ["env.id=donor-v0", "env.kwargs.num_agents=many"],
            "env.kwargs.num_agents for donor-v0 expects int, default 12; got the string 'many'",
        ),
        (
            ["env.id=routing-braess-v0", "env.kwargs.network=1"],
            "env.kwargs.network must be a shipped network name or a Network, got int 1; the shipped "
            "networks are ['anaheim', 'braess', 'siouxfalls']",
        ),
        (
            ["env.id=routing-braess-v0", "env.kwargs.num_agents=2.5"],
            "env.kwargs.num_agents must be an integer, got 2.5",
        ),
    ],
)
def test_an_env_keyword_of_the_wrong_type_is_named_with_what_it_accepts(overrides, message):
    with pytest.raises(ConfigError) as err:
        make_env(load_config(None, overrides), 2)
    assert message in str(err.value)


def test_a_nan_written_as_yaml_reaches_the_env_range_check():
    with pytest.raises(ConfigError, match=r"noise must be a finite number >= 0 .*, got nan"):
        make_env(load_config(None, ["env.id=swarming-vicsek-v0", "env.kwargs.noise=.nan"]), 2)


def test_well_typed_keywords_still_pass_the_type_check():
    overrides = ["env.kwargs.field_size=[5,6]", "env.kwargs.sight=2", "env.kwargs.penalty=1"]
    core = make_env(load_config(None, overrides), 2)  # an int where a float is declared is fine
    assert (core.rows, core.cols, core.penalty) == (5, 6, 1.0)


def test_train_py_reports_a_bad_env_keyword_in_one_line(tmp_path, capsys):
    err = _refused(capsys, ["env.kwargs.penalty=abc", f"log.dir={tmp_path}", "log.progress=false"])
    assert "env.kwargs.penalty" in err
    assert os.listdir(tmp_path) == []  # refused before a run directory was made


def test_a_log_dir_that_is_a_file_is_refused(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    base = ["total_env_steps=1000", "log.progress=false"]
    err = _refused(capsys, [*base, f"log.dir={afile}"])
    assert f"log.dir={afile} is a file, not a directory" in err
    err = _refused(capsys, [*base, f"log.dir={afile}/runs"])
    assert "cannot create the run directory" in err and "Not a directory" in err
    assert "give log.dir=<a directory you can write to>" in err


def test_an_unwritable_log_dir_is_refused(tmp_path, capsys, monkeypatch):
    def read_only(path, *args, **kwargs):  # the test runs as root, which can write anywhere
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "makedirs", read_only)
    err = _refused(capsys, ["total_env_steps=1000", "log.progress=false", f"log.dir={tmp_path}"])
    assert f"under log.dir={tmp_path}: Permission denied" in err


def test_a_user_network_file_that_cannot_be_read_is_reported_by_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "bad_net.tntp").write_text(
        "<NUMBER OF ZONES> 2\n<NUMBER OF NODES> x\n<END OF METADATA>\n"
    )
    (tmp_path / "bad_trips.tntp").write_text("<NUMBER OF ZONES> 2\n<END OF METADATA>\n")
    (tmp_path / "marlgym_test_bad_network.py").write_text(
        "from envs.routing import load_tntp\n"
        "NETWORK = load_tntp('bad_net.tntp', 'bad_trips.tntp')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    err = _refused(capsys, ["--import", "marlgym_test_bad_network", "--print-config"])
    assert "bad_net.tntp:2: <NUMBER OF NODES> must be an integer >= 1, got 'x'" in err


class UnhintedMatch(MatchParallelEnv):
    """A user's PettingZoo env whose keywords carry defaults but no type hints."""

    def __init__(self, num_agents=2, num_actions=3, length=5, shaped=False, render_mode=None):
        super().__init__(num_agents, num_actions, length, render_mode)


@pytest.fixture(autouse=True)
def _registry_restored(monkeypatch):
    """The test ids below leave the registry as they found it."""
    monkeypatch.setattr(envs, "_REGISTRY", dict(envs._REGISTRY))


def opaque_factory(**kwargs):
    """A PettingZoo-style ``parallel_env(**kwargs)``: nothing to check before it runs."""
    return MatchParallelEnv(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["env.kwargs.num_agents=many"],
            "env.kwargs.num_agents for test-unhinted-v0 expects int or float, default 2; "
            "got the string 'many'",
        ),
        (
            ["env.kwargs.shaped=yes please"],
            "env.kwargs.shaped for test-unhinted-v0 expects bool, default False; got the string",
        ),
    ],
)
def test_a_generic_pettingzoo_env_keyword_is_checked_by_its_default(overrides, message):
    envs.register("test-unhinted-v0", parallel=UnhintedMatch, override=True)
    with pytest.raises(ConfigError) as err:
        make_env(load_config(None, ["env.id=test-unhinted-v0", *overrides]), 2)
    assert message in str(err.value)
    ok = make_env(load_config(None, ["env.id=test-unhinted-v0", "env.kwargs.num_agents=3"]), 2)
    assert ok.num_agents == 3


def test_a_generic_env_that_fails_on_its_keywords_is_named_in_one_line(tmp_path, capsys):
    envs.register("test-opaque-v0", parallel=opaque_factory, override=True)
    with pytest.raises(ConfigError) as err:
        make_env(load_config(None, ["env.id=test-opaque-v0", "env.kwargs.num_agents=many"]), 2)
    assert str(err.value) == (
        "env.kwargs for test-opaque-v0 (num_agents='many'): the env failed on them with "
        "TypeError: 'str' object cannot be interpreted as an integer"
    )
    base = ["env.id=test-opaque-v0", f"log.dir={tmp_path}", "log.progress=false"]
    err = _refused(capsys, [*base, "env.kwargs.num_actions=few"])
    assert "env.kwargs for test-opaque-v0 (num_actions='few')" in err
