"""The episode replay: writer rows against a naive per-copy list of episodes, the circular buffer, sampling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.replay import EpisodeReplay, EpisodeWriter, Field

FIELDS = {
    "obs": Field((2, 3), np.float32, obs=True),
    "actions": Field((2,), np.int64),
    "flag": Field((2,), np.bool_),
}


def run_writer(num_copies, max_length, end_prob, steps, seed):
    """Drive a writer with random data and random episode ends; also keep a naive record."""
    rng = np.random.default_rng(seed)
    writer = EpisodeWriter(num_copies, max_length, FIELDS)
    current = [[] for _ in range(num_copies)]  # naive: per copy, a list of (obs, action, flag)
    stored, naive = [], []
    for _ in range(steps):
        obs = rng.normal(size=(num_copies, 2, 3)).astype(np.float32)
        actions = rng.integers(0, 5, size=(num_copies, 2))
        flags = rng.random((num_copies, 2)) < 0.5
        writer.write_obs(obs=obs)
        writer.write_step(actions=actions, flag=flags)
        for b in range(num_copies):
            current[b].append((obs[b], actions[b], flags[b]))
        ended = rng.random(num_copies) < end_prob
        flush = ended | writer.full()
        if flush.any():
            idx = np.flatnonzero(flush)
            final = rng.normal(size=(len(idx), 2, 3)).astype(np.float32)
            episodes, lengths = writer.finish(idx, obs=final)
            stored.append((episodes, lengths))
            for k, b in enumerate(idx):
                naive.append((current[b], final[k]))
                current[b] = []
    return stored, naive


@settings(max_examples=25, deadline=None)
@given(
    num_copies=st.integers(1, 4),
    max_length=st.integers(1, 6),
    end_prob=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**16),
)
def test_writer_hands_over_exactly_the_episodes_written(num_copies, max_length, end_prob, seed):
    stored, naive = run_writer(num_copies, max_length, end_prob, 20, seed)
    flat = [
        (ep, int(length))
        for episodes, lengths in stored
        for ep, length in (
            (({k: v[i] for k, v in episodes.items()}), lengths[i]) for i in range(len(lengths))
        )
    ]
    assert len(flat) == len(naive)
    for (episode, length), (steps, final) in zip(flat, naive):
        assert length == len(steps) <= max_length
        np.testing.assert_array_equal(episode["obs"][:length], np.stack([s[0] for s in steps]))
        np.testing.assert_array_equal(episode["obs"][length], final)
        np.testing.assert_array_equal(episode["actions"][:length], np.stack([s[1] for s in steps]))
        np.testing.assert_array_equal(episode["flag"][:length], np.stack([s[2] for s in steps]))
        # padding is zero (masks False), so a padded step can never look like a real one
        assert not episode["flag"][length:].any() and not episode["obs"][length + 1 :].any()


def test_writer_refuses_to_overfill_a_row():
    writer = EpisodeWriter(1, 2, FIELDS)
    writer.write_step(actions=np.zeros((1, 2)), flag=np.zeros((1, 2)))
    writer.write_step(actions=np.zeros((1, 2)), flag=np.zeros((1, 2)))
    assert writer.full().all()
    with pytest.raises(RuntimeError, match="finish"):
        writer.write_step(actions=np.zeros((1, 2)), flag=np.zeros((1, 2)))


def make_episodes(k, max_length, first_id, rng):
    lengths = rng.integers(1, max_length + 1, size=k)
    episodes = {
        name: np.zeros((k, max_length + int(f.obs), *f.shape), dtype=f.dtype)
        for name, f in FIELDS.items()
    }
    for i, length in enumerate(lengths):
        episodes["actions"][i, :length] = first_id + i  # the episode's id in every real step
        episodes["flag"][i, :length] = True
    return episodes, lengths


def test_buffer_overwrites_the_oldest_episodes_first():
    rng = np.random.default_rng(0)
    replay = EpisodeReplay(5, 4, FIELDS)
    first = 0
    for k in (3, 4, 1):
        episodes, lengths = make_episodes(k, 4, first, rng)
        replay.add(episodes, lengths)
        first += k
    assert len(replay) == 5
    ids = sorted(int(replay.data["actions"][i, 0, 0]) for i in range(5))
    assert ids == [3, 4, 5, 6, 7]  # episodes 0..2 were overwritten


def test_adding_more_than_the_capacity_keeps_the_newest():
    rng = np.random.default_rng(1)
    replay = EpisodeReplay(3, 4, FIELDS)
    episodes, lengths = make_episodes(7, 4, 0, rng)
    replay.add(episodes, lengths)
    assert sorted(int(replay.data["actions"][i, 0, 0]) for i in range(3)) == [4, 5, 6]


def test_sample_draws_distinct_episodes_trimmed_to_the_longest():
    rng = np.random.default_rng(2)
    replay = EpisodeReplay(50, 6, FIELDS)
    episodes, lengths = make_episodes(20, 6, 0, rng)
    replay.add(episodes, lengths)
    batch = replay.sample(8, np.random.default_rng(3))
    ids = batch["actions"][:, 0, 0]
    assert len(set(ids.tolist())) == 8
    steps = int(lengths[ids].max())
    assert batch["actions"].shape == (8, steps, 2) and batch["obs"].shape == (8, steps + 1, 2, 3)
    np.testing.assert_array_equal(batch["lengths"], lengths[ids])
    np.testing.assert_array_equal(batch["filled"], batch["flag"][..., 0])
    with pytest.raises(ValueError, match="cannot sample 21"):
        replay.sample(21, rng)


def test_buffer_state_dict_round_trip_samples_the_same():
    rng = np.random.default_rng(4)
    replay = EpisodeReplay(10, 5, FIELDS)
    replay.add(*make_episodes(7, 5, 0, rng))
    other = EpisodeReplay(10, 5, FIELDS)
    other.load_state_dict(replay.state_dict())
    a, b = replay.sample(4, np.random.default_rng(9)), other.sample(4, np.random.default_rng(9))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    more = make_episodes(5, 5, 7, rng)
    replay.add(*more)
    other.add(*more)
    assert replay.ptr == other.ptr == 2 and len(other) == 10
    for key in replay.data:
        np.testing.assert_array_equal(replay.data[key], other.data[key])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        EpisodeReplay(0, 5, FIELDS)
    with pytest.raises(ValueError, match="max_length must be at least 1"):
        EpisodeWriter(2, 0, FIELDS)
    replay = EpisodeReplay(4, 3, FIELDS)
    episodes, _ = make_episodes(1, 3, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="lengths must lie in 1..3"):
        replay.add(episodes, np.array([4]))
    with pytest.raises(KeyError, match="flag"):
        replay.add({k: v for k, v in episodes.items() if k != "flag"}, np.array([1]))


@settings(max_examples=15, deadline=None)
@given(num_copies=st.integers(1, 4), max_length=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_a_device_replay_stores_and_gathers_what_the_numpy_one_does(num_copies, max_length, seed):
    """The replay of a learner on a torch core (tensors on a device; the CPU here) against the
    numpy one, fed the same steps: the same episodes handed over, stored, gathered and saved."""
    import torch

    rng = np.random.default_rng(seed)
    device = torch.device("cpu")
    host = (EpisodeWriter(num_copies, max_length, FIELDS), EpisodeReplay(6, max_length, FIELDS))
    dev = (
        EpisodeWriter(num_copies, max_length, FIELDS, device),
        EpisodeReplay(6, max_length, FIELDS, device),
    )
    for _ in range(15):
        step = {
            "actions": rng.integers(0, 5, size=(num_copies, 2)),
            "flag": rng.random((num_copies, 2)) < 0.5,
        }
        obs = rng.normal(size=(num_copies, 2, 3)).astype(np.float32)
        ended = rng.random(num_copies) < 0.3
        final = rng.normal(size=(num_copies, 2, 3)).astype(np.float32)
        for (writer, replay), as_ in ((host, np.asarray), (dev, torch.as_tensor)):
            writer.write_obs(obs=as_(obs))
            writer.write_step(**{k: as_(v) for k, v in step.items()})
            flush = as_(ended) | writer.full()
            if flush.any():
                idx = np.flatnonzero(np.asarray(flush))
                replay.add(*writer.finish(as_(idx), obs=as_(final[idx])))
    assert len(host[1]) == len(dev[1]) and host[1].ptr == dev[1].ptr
    for a, b in zip(host, dev):
        saved_a, saved_b = a.state_dict(), b.state_dict()
        for key in saved_a["data"]:
            np.testing.assert_array_equal(saved_a["data"][key], saved_b["data"][key].numpy())
    if len(host[1]):
        idx = rng.permutation(len(host[1]))[: min(3, len(host[1]))]
        got_a, got_b = host[1].gather(idx), dev[1].gather(torch.as_tensor(idx))
        for key in got_a:
            np.testing.assert_array_equal(got_a[key], got_b[key].numpy())
        drawn = dev[1].sample(len(idx), torch.Generator().manual_seed(seed))
        assert drawn["obs"].device == device
        assert drawn["filled"].sum(1).tolist() == drawn["lengths"].tolist()
