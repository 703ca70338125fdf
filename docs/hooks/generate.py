"""MkDocs hook: the site's reference pages, generated at build time from the code.

- ``envs/<family>.md`` per env family: the family's module docstrings (registered ids, the
  spaces table, the rules, the arguments) and a GIF of one episode, rendered by
  ``python -m algorithms.runs.render`` while the other pages build (not committed).
- ``algorithms/<name>.md`` per learner in ``algorithms.ALGORITHMS``: the learner module's
  docstring, its capability flags and every config key with its default and field docstring.
- ``benchmarks/results/...``: the committed results (Markdown pages, figures, JSON) as they
  are in the repository, so their relative links work; figures that no page shows are added
  to their folder's page.
- ``tutorials/own-environment.md``: the README's "Your own environment" section (which
  ``tests/test_readme.py`` runs), and ``benchmarks/index.md`` from its "Benchmarks" section.

``mkdocs.yml`` names this file under ``hooks:``; the nav entries of the generated sections are
filled in here. ``MARLGYM_DOCS_GIFS=0`` skips the GIFs (a quicker ``mkdocs serve``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import logging
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.generate")
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

#: family -> (env id and keyword arguments, render options) of the GIF on its page
FAMILY_EPISODES: dict[str, tuple[list[str], list[str]]] = {
    "foraging": (["Foraging-8x8-2p-2f-coop-v3"], []),
    "swarming": (["swarming-vicsek-v0", "num_agents=60"], ["--policy", "scripted:vicsek"]),
    "donor": (["donor-v0"], ["--policy", "scripted:discriminator"]),
    "routing": (["routing-braess-v0"], ["--policy", "scripted:best-response"]),
}
GIF_STEPS = 30
RENDER_TIMEOUT_S = 240
#: the learner capability flags (class attributes of algorithms.base.Learner), in table order
FLAGS = (
    "supports_discrete",
    "supports_continuous",
    "on_policy",
    "needs_state",
    "needs_neighbours",
    "act_needs_state",
)
ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")

_renders: list[tuple[str, subprocess.Popen, list[Path]]] = []


# ---------------------------------------------------------------------- text helpers
def markdown(docstring: str | None) -> str:
    """A docstring as Markdown: Sphinx roles (``:class:`x```) become code spans."""
    return ROLE.sub(r"`\1`", inspect.cleandoc(docstring or ""))


def demote(text: str, levels: int = 1) -> str:
    """Push every Markdown heading down ``levels`` (outside fenced code blocks)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,5} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def cell(text: str) -> str:
    """Text for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def readme_section(heading: str, stop: str) -> str:
    """README.md from the line ``heading`` up to (not including) the line ``stop``."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}") + 1
    return text[start : text.index(f"\n{stop}", start)]


# ---------------------------------------------------------------------- env families
def families() -> list[str]:
    """The env families: the subpackages of ``envs`` with a batched core."""
    import envs

    return sorted(
        m.name
        for m in pkgutil.iter_modules(envs.__path__)
        if m.ispkg and (Path(envs.__path__[0]) / m.name / "core.py").exists()
    )


def family_ids(family: str) -> list[str]:
    import envs

    ids = []
    for env_id in envs.list_envs():
        entry = envs.spec(env_id)[0]
        if (entry.core or entry.parallel).__module__.startswith(f"envs.{family}."):
            ids.append(env_id)
    return ids


def family_page(family: str) -> str:
    package = importlib.import_module(f"envs.{family}")
    core = importlib.import_module(f"envs.{family}.core")
    summary, _, rules = markdown(core.__doc__).partition("\n")
    ids = ", ".join(f"`{i}`" for i in family_ids(family))
    parts = [f"# {family.capitalize()}", summary, f"Registered ids: {ids}."]
    if family in FAMILY_EPISODES:
        env, options = FAMILY_EPISODES[family]
        command = " ".join(
            ["python -m algorithms.runs.render", *env, *options, f"--max-steps {GIF_STEPS}"]
        )
        parts += [
            f"![One episode of {env[0]}]({family}.gif)",
            f"*The first {GIF_STEPS} steps of an episode, rendered when this site was built:* "
            f"`{command} --out {family}.gif`",
        ]
    parts += [
        "## The family",
        demote(markdown(package.__doc__), 2),
        "## Spaces and rules",
        f"From `envs/{family}/core.py`:",
        demote(rules.strip(), 1),
    ]
    return "\n\n".join(parts) + "\n"


#: runs the render command's ``main`` once per argv in sys.argv[1] (one import for several GIFs)
RENDER_DRIVER = """
import json, sys
from algorithms.runs.render import main
sys.exit(max(main(argv) for argv in json.loads(sys.argv[1])))
"""


def start_renders(jobs: dict[str, Path], processes: int = 2) -> None:
    """Render ``{family: gif}`` in ``processes`` subprocesses, as the render command does."""
    environ = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    families = sorted(jobs)
    for k in range(min(processes, len(families))):
        group = families[k::processes]
        argvs = []
        for family in group:
            env, options = FAMILY_EPISODES[family]
            argvs.append(
                [*env, *options, "--max-steps", str(GIF_STEPS), "--out", str(jobs[family])]
            )
        proc = subprocess.Popen(
            [sys.executable, "-c", RENDER_DRIVER, json.dumps(argvs)],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _renders.append((", ".join(group), proc, [jobs[f] for f in group]))


# ---------------------------------------------------------------------- learners
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, as Markdown (the nearest class in the MRO wins)."""
    from algorithms.config import field_docs as raw_field_docs

    return {name: markdown(doc) for name, doc in raw_field_docs(cls).items()}


def config_rows(config: Any, prefix: str = "algo.") -> list[str]:
    """Table rows ``| key | type | default | doc |``, nested dataclasses flattened."""
    docs = field_docs(type(config))
    rows = []
    for f in dataclasses.fields(config):
        if f.name == "name" and prefix == "algo.":
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            rows += config_rows(value, f"{prefix}{f.name}.")
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append(
            f"| `{prefix}{f.name}` | `{cell(kind)}` | `{cell(repr(value))}` "
            f"| {cell(docs.get(f.name, ''))} |"
        )
    return rows


def flag_docs() -> dict[str, str]:
    """The ``#:`` comment above each capability flag in ``algorithms.base.Learner``."""
    from algorithms.base import Learner

    source = inspect.getsource(Learner)
    return {m[2]: m[1] for m in re.finditer(r"#: (.+)\n\s+(\w+): ClassVar", source)}


def learner_module(learner: type) -> Any:
    """The learner's own module under ``algorithms`` (its package for a subpackage)."""
    return importlib.import_module(".".join(learner.__module__.split(".")[:2]))


def learner_page(name: str) -> str:
    from algorithms import ALGORITHMS

    config_cls, learner = ALGORITHMS[name]
    module = learner_module(learner)
    flags = flag_docs()
    lines = [
        f"| `{flag}` | {getattr(learner, flag)} | {cell(flags.get(flag, ''))} |" for flag in FLAGS
    ]
    parts = [
        f"# {name}",
        demote(markdown(module.__doc__), 1),
        f"Train it with `python train.py algo={name}`; `algo.KEY=VALUE` sets any key below "
        f"(`python train.py --print-config algo={name}` prints them all resolved). Code: "
        f"`{module.__name__}` (learner `{learner.__name__}`, config `{config_cls.__name__}`).",
        "## Capability flags",
        "Class attributes of the learner; train.py and the tests refuse env pairs they rule out.",
        "| flag | value | meaning |\n|---|---|---|\n" + "\n".join(lines),
        "## Config keys",
        f"The fields of `{config_cls.__name__}`, with their defaults and docstrings.",
        "| key | type | default | what it sets |\n|---|---|---|---|\n"
        + "\n".join(config_rows(config_cls())),
    ]
    return "\n\n".join(parts) + "\n"


def learners_index() -> str:
    from algorithms import ALGORITHMS

    rows = []
    for name, (_, learner) in ALGORITHMS.items():
        summary = markdown(learner_module(learner).__doc__).split("\n")[0]
        flags = ", ".join(flag for flag in FLAGS if getattr(learner, flag))
        rows.append(f"| [{name}]({name}.md) | {cell(summary)} | {flags} |")
    return (
        "\n\n".join(
            [
                "# Algorithms",
                "Every learner is a config dataclass (defaults and one docstring per field) plus a "
                "learner class with capability flags, registered by name in `algorithms.ALGORITHMS`. "
                "`python train.py algo=NAME` picks one; `configs/*.yaml` hold overrides only.",
                "| algo | what it is | flags set |\n|---|---|---|\n" + "\n".join(rows),
            ]
        )
        + "\n"
    )


# ---------------------------------------------------------------------- benchmarks
def results_files() -> list[Path]:
    """The committed result files (relative to the results folder) the site publishes."""
    return sorted(
        p.relative_to(RESULTS)
        for p in RESULTS.rglob("*")
        if p.is_file() and p.suffix in {".md", ".png", ".gif", ".json", ".html", ".svg"}
    )


def results_page(rel: Path, published: set[Path]) -> str:
    """A results Markdown file; unresolvable relative links become code, unshown figures added."""
    text = (RESULTS / rel).read_text()
    folder = rel.parent

    def link(m: re.Match) -> str:
        target = m[3].split("#")[0]
        if re.match(r"[a-z]+:|#|/", m[3]) or not target:
            return m[0]
        if Path(os.path.normpath(folder / target)) in published:
            return m[0]
        path = os.path.normpath(Path("benchmarks/results") / folder / target)
        return f"{m[2]} (`{path}`)"

    text = LINK.sub(link, text)
    pages = sorted((RESULTS / folder).glob("*.md"), key=lambda p: (p.name != "README.md", p.name))
    if rel.name == pages[0].name:  # the folder's first page shows the figures no page shows
        shown = "\n".join(p.read_text() for p in pages)
        figures = [p for p in sorted((RESULTS / folder).glob("*.png")) if p.name not in shown]
        if figures:
            text += "\n\n## Figures\n\n" + "\n\n".join(f"![{p.stem}]({p.name})" for p in figures)
    return text


def results_nav(pages: list[Path]) -> list[Any]:
    """Nested nav entries for the results pages, one section per folder."""
    tree: dict[str, Any] = {}
    for page in pages:
        node = tree
        for part in page.parent.parts:
            node = node.setdefault(part, {})
        node.setdefault("", []).append(f"benchmarks/results/{page.as_posix()}")

    def entries(node: dict[str, Any]) -> list[Any]:
        own = sorted(node.get("", []), key=lambda p: (not p.endswith("README.md"), p))
        return own + [{name: entries(child)} for name, child in sorted(node.items()) if name]

    return entries(tree)


def benchmarks_index(pages: list[Path]) -> str:
    section = readme_section("## Benchmarks", "Results measured so far")
    studies = []
    for folder in sorted({p.parts[0] for p in pages if len(p.parts) > 1}):
        first = min(
            (p for p in pages if p.parts[0] == folder),
            key=lambda p: (len(p.parts), p.name != "README.md", p.name),
        )
        line = (RESULTS / first).read_text().split("\n")[0]
        title = f": {line.lstrip('# ').strip()}" if line.startswith("# ") else ""
        studies.append(f"- [{folder}](results/{first.as_posix()}){title}")
    return (
        "\n\n".join(
            [
                "# Benchmarks",
                "The leaderboard ([committed results](results/small/leaderboard.md)) trains every "
                "learner on one task of each family; `python -m benchmarks.leaderboard GRID.yaml` "
                "(or `marlgym-leaderboard GRID.yaml`) runs a grid of your own "
                "([how](../tutorials/own-environment.md#add-it-to-a-leaderboard)).",
                "## Speed and learning scripts",
                demote(section.split("\n", 1)[1].strip(), 1),
                "## Committed results",
                "One folder per study under `benchmarks/results/`, each saying its protocol, "
                "command and verdict; `docs/experiments/` tells the stories behind them.",
                "\n".join(studies),
            ]
        )
        + "\n"
    )


# ---------------------------------------------------------------------- MkDocs events
def on_config(config: Any) -> Any:
    """Fill the nav's generated sections (the entries ``envs/``, ``algorithms/``, ...)."""
    from algorithms import ALGORITHMS

    pages = [p for p in results_files() if p.suffix == ".md"]
    generated = {
        "envs/": ["envs/index.md"] + [f"envs/{f}.md" for f in families()],
        "algorithms/": ["algorithms/index.md"] + [f"algorithms/{n}.md" for n in ALGORITHMS],
        "benchmarks/": ["benchmarks/index.md"] + results_nav(pages),
        "experiments/": sorted(
            f"experiments/{p.name}" for p in Path(config["docs_dir"], "experiments").glob("*.md")
        ),
    }
    for entry in config["nav"]:
        for title, value in entry.items() if isinstance(entry, dict) else ():
            if isinstance(value, str) and value in generated:
                entry[title] = generated[value]
    return config


def on_files(files: Files, config: Any) -> Files:
    def add(uri: str, content: str) -> None:
        files.append(File.generated(config, uri, content=content))

    gifs = Path(tempfile.mkdtemp(prefix="marlgym-docs-gifs-"))
    jobs: dict[str, Path] = {}
    _renders.clear()
    index = ["# Environments", "Each family is a batched numpy core with a PettingZoo view."]
    for family in families():
        if family not in FAMILY_EPISODES:
            log.warning(f"env family {family!r} has no episode in FAMILY_EPISODES ({__file__})")
        add(f"envs/{family}.md", family_page(family))
        core = importlib.import_module(f"envs.{family}.core")
        index.append(f"- [{family}]({family}.md): {markdown(core.__doc__).split(chr(10))[0]}")
        if family in FAMILY_EPISODES:
            jobs[family] = gifs / f"{family}.gif"
            jobs[family].write_bytes(b"")  # replaced by the render (kept empty without one)
            uri = f"envs/{family}.gif"
            files.append(File.generated(config, uri, abs_src_path=str(jobs[family])))
    if os.environ.get("MARLGYM_DOCS_GIFS", "1") != "0":
        start_renders(jobs)
    add("envs/index.md", "\n\n".join(index) + "\n")

    from algorithms import ALGORITHMS

    add("algorithms/index.md", learners_index())
    for name in ALGORITHMS:
        add(f"algorithms/{name}.md", learner_page(name))

    published = set(results_files())
    for rel in sorted(published):
        uri = f"benchmarks/results/{rel.as_posix()}"
        if rel.suffix == ".md":
            add(uri, results_page(rel, published))
        else:
            files.append(File.generated(config, uri, abs_src_path=str(RESULTS / rel)))
    add("benchmarks/index.md", benchmarks_index([p for p in published if p.suffix == ".md"]))

    tutorial = readme_section("## Your own environment", "### The committed leaderboard")
    tutorial = re.sub(r"(?m)^#(#+ )", r"\1", tutorial)  # its "##" is the page's title
    tutorial = tutorial.replace("Every block in this README runs", "Every block on this page runs")
    add("tutorials/own-environment.md", tutorial)
    return files


def on_env(env: Any, config: Any, files: Files) -> Any:
    """Wait for the GIFs before MkDocs copies the static files."""
    for families, proc, outs in _renders:
        try:
            output, _ = proc.communicate(timeout=RENDER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        if proc.returncode != 0 or not all(out.stat().st_size for out in outs):
            log.warning(f"rendering the GIFs of {families} failed:\n{output[-2000:]}")
    _renders.clear()
    return env
