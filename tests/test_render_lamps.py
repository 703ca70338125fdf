"""The README's lamps example draws a perfect policy as right, and captions fit narrow frames."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms.runs.render import play_episode

README = Path(__file__).resolve().parent.parent / "README.md"
GREEN, RED, YELLOW = (90, 200, 90), (230, 80, 80), (250, 220, 60)


@pytest.fixture(scope="module")
def lamps(tmp_path_factory):
    """The README's ``my_envs.py`` block, imported (it registers lamps-v0)."""
    code = re.search(r"```python\n(# file: my_envs\.py\n.*?)^```", README.read_text(), re.S | re.M)
    path = tmp_path_factory.mktemp("lamps") / "readme_lamps.py"
    path.write_text(code[1])
    spec = importlib.util.spec_from_file_location("readme_lamps", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_lamps"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("readme_lamps")


def columns_of(frame, colour):
    return np.flatnonzero((frame == colour).all(axis=-1).any(axis=0))


def test_a_perfect_policys_picks_are_drawn_under_the_lamp_they_were_scored_on(lamps):
    core = lamps.LampsCore(1, num_agents=2, lamps=4, render_mode="rgb_array")
    core.reset(seed=3)
    assert len(columns_of(core.render(0), GREEN)) == 0  # no picks yet
    for _ in range(6):
        before = int(core.lit[0])
        _, rewards, *_ = core.step(np.full((1, 2), before))  # the lit lamp: reward 1 each
        assert rewards.sum() == 2
        frame = core.render(0)
        green = columns_of(frame[80:], GREEN)  # the picks' row
        assert len(green) and len(columns_of(frame[80:], RED)) == 0
        assert (green // 80 == before).all()  # under the lamp that was lit, not the new one
        ring = columns_of(frame[70:], YELLOW)
        assert (ring // 80 == before).all()
    core.close()


def test_the_caption_wraps_on_a_narrow_frame_and_keeps_one_size(lamps):
    for count, lines in ((1, 3), (8, 1)):  # frames 80 and 640 pixels wide
        episode = play_episode("lamps-v0", env_kwargs={"lamps": count, "length": 12}, seed=0)
        shapes = {f.shape for f in episode.frames}
        assert len(shapes) == 1 and len(episode.frames) == 13
        frame = episode.frames[-1]
        strip = frame[130:]
        assert strip.shape[0] >= lines * 16
        assert frame.shape[1] >= 80 * count
        dark = np.flatnonzero((strip < 128).all(axis=-1).any(axis=0))
        assert dark.max() < frame.shape[1] - 2  # no caption text runs off the right edge
        rows = np.flatnonzero((strip < 128).all(axis=-1).any(axis=1))
        assert rows.max() - rows.min() > (lines - 1) * 12  # the text fills its lines
