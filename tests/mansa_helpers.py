"""Helpers shared by the MANSA tests (switch=act in test_mansa.py, switch=learn in test_mansa_learn.py)."""

import io

import torch


def same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def straight_and_resumed(fresh, before: int = 2, after: int = 2):
    """Two runs of ``before + after`` iterations: one straight through, one saved after
    ``before`` with ``state_dict`` and resumed into a fresh learner from the saved bytes."""
    straight = fresh()
    for _ in range(before + after):
        straight.train_iteration()
    first = fresh()
    for _ in range(before):
        first.train_iteration()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = fresh()
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    for _ in range(after):
        resumed.train_iteration()
    assert resumed.cl_calls == straight.cl_calls and resumed.env_steps == straight.env_steps
    assert same_parameters(resumed.switcher.actor, straight.switcher.actor)
    return straight, resumed
