"""The documentation site's generated pages (docs/hooks/generate.py) cover every env and learner.

``.ci/run`` builds the whole site with ``mkdocs build --strict``; these tests check what a
build cannot see: a config key without a docstring, a family without its GIF, a README
heading the tutorial page is cut at.
"""

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")

from algorithms import ALGORITHMS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs/hooks/generate.py")
generate = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(generate)


def keys(config, prefix="algo."):
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            yield from keys(value, f"{prefix}{f.name}.")
        elif f.name != "name":
            yield f"{prefix}{f.name}"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_learner_page_documents_every_config_key(name):
    rows = generate.config_rows(ALGORITHMS[name][0]())
    assert [row.split("`")[1] for row in rows] == list(keys(ALGORITHMS[name][0]()))
    undocumented = [row.split("`")[1] for row in rows if row.rstrip().endswith("|  |")]
    assert not undocumented, f"config fields without a docstring: {undocumented}"
    page = generate.learner_page(name)
    for flag in generate.FLAGS:
        assert f"`{flag}`" in page


def test_the_docstring_under_a_field_is_found_through_subclasses():
    @dataclasses.dataclass
    class Base:
        a: int = 1
        """The a."""
        b: int = 2
        """The b."""

    @dataclasses.dataclass
    class Child(Base):
        a: int = 3
        b: int = 4
        """The child's b."""

    assert generate.field_docs(Child) == {"a": "The a.", "b": "The child's b."}


def test_every_env_family_has_a_page_and_an_episode():
    families = generate.families()
    assert {"foraging", "swarming", "donor", "routing"} <= set(families)
    assert set(families) <= set(generate.FAMILY_EPISODES)
    for family in families:
        page = generate.family_page(family)
        assert f"({family}.gif)" in page and ":class:" not in page
        assert re.search(r"^\|[- |]+\|$", page, re.MULTILINE), "no spaces table"


def test_the_tutorial_and_benchmarks_pages_find_their_readme_sections():
    tutorial = generate.readme_section("## Your own environment", "### The committed leaderboard")
    assert "# file: my_envs.py" in tutorial and "### Add it to a leaderboard" in tutorial
    pages = [p for p in generate.results_files() if p.suffix == ".md"]
    assert "python benchmarks/throughput.py" in generate.benchmarks_index(pages)
