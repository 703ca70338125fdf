"""Networks, action distributions, critic inputs and standalone policies (DESIGN 1, 3).

- :mod:`agents.networks`: per-agent MLP / GRU over ``[..., N, D]`` (shared or separate parameters).
- :mod:`agents.distributions`: masked categorical and diagonal Gaussian with explicit generators.
- :mod:`agents.critic_inputs`: local, centralised and mean-field critic inputs.
- :mod:`agents.policy`: a policy that acts, saves and loads without its learner.

Run I/O (evaluation, checkpoints, atomic files, rendering) lives one layer up, in
:mod:`algorithms.runs`.
"""

from agents.critic_inputs import (
    CRITIC_INPUTS,
    CentralInput,
    CriticInput,
    LocalInput,
    MeanFieldInput,
    make_critic_input,
)
from agents.distributions import MASKED_LOGIT, DiagGaussian, MaskedCategorical
from agents.networks import AgentGRUCell, AgentLinear, AgentNet
from agents.policy import Policy, PolicySpec

__all__ = [
    "CRITIC_INPUTS",
    "MASKED_LOGIT",
    "AgentGRUCell",
    "AgentLinear",
    "AgentNet",
    "CentralInput",
    "CriticInput",
    "DiagGaussian",
    "LocalInput",
    "MaskedCategorical",
    "MeanFieldInput",
    "Policy",
    "PolicySpec",
    "make_critic_input",
]
