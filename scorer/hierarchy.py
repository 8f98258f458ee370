"""The hierarchical cost (ILSVRC 2010) computed from a class hierarchy.

cost(a, b) is the WordNet height of the lowest common ancestor of leaves a and b
(0 when a == b). The hierarchy is a DAG (some synsets have two parents), so the
"lowest" common ancestor is the one with the smallest height.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """Nodes 0..M-1; leaves are nodes 0..L-1 (internal class order)."""

    children: tuple[tuple[int, ...], ...]
    heights: np.ndarray  # (M,) int

    @property
    def leaves(self) -> int:
        return sum(1 for c in self.children if not c)


def leaf_sets(hierarchy: Hierarchy, leaves: int) -> list[np.ndarray]:
    """For every node, the sorted leaf indices below it (itself for a leaf)."""
    memo: dict[int, np.ndarray] = {}
    # Iterative post-order: WordNet depth is small, but recursion limits are not ours to spend.
    for root in range(len(hierarchy.children)):
        stack = [root]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            pending = [c for c in hierarchy.children[node] if c not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if node < leaves:
                memo[node] = np.array([node])
            else:
                parts: Sequence[np.ndarray] = [memo[c] for c in hierarchy.children[node]]
                memo[node] = np.unique(np.concatenate(parts)) if parts else np.array([], int)
    return [memo[i] for i in range(len(hierarchy.children))]


def cost_matrix(hierarchy: Hierarchy, leaves: int) -> np.ndarray:
    """(L, L) uint8: height of the lowest common ancestor of each pair of leaves."""
    sets = leaf_sets(hierarchy, leaves)
    unset = np.iinfo(np.uint8).max
    cost = np.full((leaves, leaves), unset, dtype=np.uint8)
    np.fill_diagonal(cost, 0)
    order = np.argsort(hierarchy.heights, kind="stable")
    for node in order:
        below = sets[node]
        if below.size < 2:
            continue
        block = cost[np.ix_(below, below)]
        block = np.where(block == unset, np.uint8(hierarchy.heights[node]), block)
        cost[np.ix_(below, below)] = block
    return cost
