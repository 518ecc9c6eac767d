"""A multi-armed bandit over a grid of solver parameters that sees only costs.

Khodak, Chow, Balcan & Talwalkar, "Learning to Relax: Setting Solver Parameters Across a
Sequence of Linear System Instances" (ICLR 2024), choose the SOR / SSOR relaxation
parameter omega for each system of a sequence with a bandit over a grid of values that is
told only the iteration count of the solve it chose (no extra products), and show that its
total cost approaches that of the best fixed omega in hindsight.  Their algorithm is
Tsallis-INF, and so is this one: 1/2-Tsallis-INF of Zimmert & Seldin, "Tsallis-INF: An
Optimal Algorithm for Stochastic and Adversarial Bandits" (JMLR 22, 2021), Algorithm 1 with
importance-weighted loss estimates and eta_t = 2 / sqrt(t).

Why this bandit: its expected regret against the best fixed arm is at most 4 sqrt(K T) + 1
for any sequence of losses in [0, 1] (adversarial regime: the matrices may drift in any
way), and O(sum_i log T / gap_i) when the losses are i.i.d. (the adversarial and the
stochastic bounds of Zimmert & Seldin; check the constants there), with no parameter to
tune; EXP3 has the first bound only, UCB the second only.  Iteration counts
of a slowly changing sequence are neither i.i.d. nor adversarial, so the best-of-both
guarantee is the one to want.

Costs are mapped to losses in [0, 1] by ``loss = min(1, cost / scale)`` with ``scale``
twice the first cost observed (a fixed scale, so that the bound holds for the clipped
losses).  Determinism: the arm is drawn from ``numpy.random.default_rng(seed)``, so the same
seed and the same costs give the same choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class TsallisInf:
    """1/2-Tsallis-INF over ``len(arms)`` arms (Zimmert & Seldin 2021, Algorithm 1).

    Round t: learning rate eta_t = 2 / sqrt(t); probabilities
    p_i = 4 / (eta_t (L_i - x))^2 with x < min L the normalizer that makes them sum to 1
    (Newton's method, their Section 4.4); draw an arm i, observe its loss l in [0, 1], and
    add the importance-weighted estimate l / p_i to L_i.
    """

    def __init__(self, arms: Sequence[Any], seed: Any = 0) -> None:
        if len(arms) < 1:
            raise ValueError("the grid must hold at least one value")
        self.arms = tuple(arms)
        self._L = np.zeros(len(self.arms))
        self._t = 0
        self._rng = np.random.default_rng(seed)
        self._scale: float | None = None
        self._p = np.full(len(self.arms), 1.0 / len(self.arms))
        self.pulls = np.zeros(len(self.arms), dtype=np.int64)
        self.costs: list[tuple[int, float]] = []  # (arm index, cost) per round

    def probabilities(self) -> np.ndarray:
        """The distribution the next draw uses."""
        return self._weights(2.0 / np.sqrt(self._t + 1))

    def _weights(self, eta: float) -> np.ndarray:
        L = self._L - self._L.min()
        x = -2.0 / eta  # here the smallest L alone has weight 1: sum >= 1, Newton from below
        for _ in range(100):
            w = 4.0 / (eta * (L - x)) ** 2
            step = (w.sum() - 1.0) / (eta * (w**1.5).sum())
            x -= step
            if abs(step) <= 1e-13 * (1.0 + abs(x)):
                break
        w = 4.0 / (eta * (L - x)) ** 2
        return w / w.sum()

    def choose(self) -> int:
        """Draw the arm (its index) for the next round."""
        self._t += 1
        self._p = self._weights(2.0 / np.sqrt(self._t))
        return int(self._rng.choice(len(self.arms), p=self._p))

    def observe(self, arm: int, cost: float) -> None:
        """Report the cost (e.g. iterations, products with A) of the arm just drawn."""
        if not np.isfinite(cost) or cost < 0:
            cost = np.inf  # a failed solve: the largest loss
        if self._scale is None:
            self._scale = 2.0 * cost if 0 < cost < np.inf else 1.0
        loss = min(1.0, cost / self._scale)
        self._L[arm] += loss / self._p[arm]
        self.pulls[arm] += 1
        self.costs.append((arm, float(cost)))

    def best(self) -> Any:
        """The arm the learner currently favours (largest probability)."""
        return self.arms[int(np.argmax(self.probabilities()))]
