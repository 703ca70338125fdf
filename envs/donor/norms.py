"""Social norms of indirect reciprocity: how the public observer assesses a donor.

After every round a single public observer (the "institution" of indirect-reciprocity
models) gives each donor a new reputation from two facts: whether the donor cooperated
(donated a positive fraction, after execution errors) and whether its recipient was in good
standing before the round. A norm is that assessment table, indexed
``[donor action (0 = defect, 1 = cooperate), recipient reputation (0 = bad, 1 = good)]``:

| norm            | C vs good | C vs bad | D vs good | D vs bad | reputation kept |
|-----------------|-----------|----------|-----------|----------|-----------------|
| image_scoring   | +1        | +1       | -1        | -1       | score in [-bound, bound], good if >= 0 |
| simple_standing | good      | good     | bad       | good     | good / bad      |
| stern_judging   | good      | bad      | bad       | good     | good / bad      |
| shunning        | good      | bad      | bad       | bad      | good / bad      |

Image scoring (Nowak & Sigmund 1998) is first-order: the recipient does not matter and the
entry is the change of the donor's score, clipped to ``[-bound, bound]`` (bound 5 by
default). The other three are the second-order norms of Ohtsuki & Iwasa (2004) and
Pacheco, Santos & Chalub (2006). An assessment error (probability ``assessment_error``)
makes the observer record the opposite verdict: bad for good and good for bad, or the
opposite sign of the score change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GOOD, BAD = 1, 0


@dataclass(frozen=True)
class Norm:
    """One assessment rule.

    Attributes:
        name: the norm's name as accepted by the env (``norm=``).
        kind: ``"binary"`` (reputation is good/bad) or ``"score"`` (an integer score).
        table: ``[2, 2]`` int array indexed ``[cooperated, recipient_good]``: the new
            reputation (binary) or the score change (score).
    """

    name: str
    kind: str
    table: np.ndarray

    @property
    def initial(self) -> int:
        """Everyone starts in good standing: reputation good, or score 0 (which is good)."""
        return GOOD if self.kind == "binary" else 0

    def is_good(self, reputation: np.ndarray) -> np.ndarray:
        """Whether reputations (or scores) count as good standing."""
        return reputation == GOOD if self.kind == "binary" else reputation >= 0

    def value(self, reputation: np.ndarray, score_bound: int) -> np.ndarray:
        """Reputation as a number in [-1, 1] for observations: +-1, or score / bound."""
        if self.kind == "binary":
            return 2.0 * reputation - 1.0
        return reputation / float(score_bound)

    def assess(
        self,
        reputation: np.ndarray,
        cooperated: np.ndarray,
        recipient_good: np.ndarray,
        error: np.ndarray,
        score_bound: int,
    ) -> np.ndarray:
        """New donor reputations from the table; ``error`` marks mistaken assessments.

        Args:
            reputation: the donors' current reputations (used by image scoring).
            cooperated: bool, the donor donated a positive fraction.
            recipient_good: bool, the recipient's standing before the round.
            error: bool, the observer records the opposite verdict.
            score_bound: image scoring's bound.
        """
        entry = self.table[cooperated.astype(np.intp), recipient_good.astype(np.intp)]
        if self.kind == "binary":
            return np.where(error, 1 - entry, entry).astype(reputation.dtype)
        change = np.where(error, -entry, entry)
        return np.clip(reputation + change, -score_bound, score_bound).astype(reputation.dtype)


def _table(c_good: int, c_bad: int, d_good: int, d_bad: int) -> np.ndarray:
    table = np.empty((2, 2), dtype=np.int64)
    table[1, 1], table[1, 0], table[0, 1], table[0, 0] = c_good, c_bad, d_good, d_bad
    table.setflags(write=False)
    return table


NORMS: dict[str, Norm] = {
    "image_scoring": Norm("image_scoring", "score", _table(+1, +1, -1, -1)),
    "simple_standing": Norm("simple_standing", "binary", _table(GOOD, GOOD, BAD, GOOD)),
    "stern_judging": Norm("stern_judging", "binary", _table(GOOD, BAD, BAD, GOOD)),
    "shunning": Norm("shunning", "binary", _table(GOOD, BAD, BAD, BAD)),
}


def get_norm(name: str) -> Norm:
    """The norm called ``name`` (hyphens or underscores); raises naming the valid ones."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in NORMS:
        raise ValueError(f"unknown norm {name!r}; valid norms are {sorted(NORMS)}")
    return NORMS[key]
