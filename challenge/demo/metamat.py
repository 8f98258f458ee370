"""Writing a devkit-style ``meta.mat``: the ``synsets`` struct array, and the 2010
devkit's ``cost_matrix`` (height of the lowest common ancestor of two leaves).

The demo's 2010 year needs a class hierarchy for its hierarchical track, and the
devkit importer's tests need small devkits; both write the file the real devkits
ship, so it goes through the same reader (``scorer.load_classes``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Synset:
    wnid: str
    words: str
    height: int = 0  # WordNet height: 0 for a leaf
    children: tuple[int, ...] = ()  # 1-based IDs of its children (leaves are IDs 1..L)


HEADER = b"MATLAB 5.0 MAT-file, written by challenge.demo.metamat".ljust(116)
FIELDS = ("WNID", "words", "gloss", "num_children", "children", "wordnet_height", "num_train_images")


def cost_matrix(synsets: Sequence[Synset], leaves: int) -> np.ndarray:
    """(L, L) uint8: the smallest height of a synset above both leaves (0 on the diagonal)."""
    below: list[set[int]] = []
    for synset in synsets:  # children always have smaller IDs than their parents here
        found: set[int] = set()
        for child in synset.children:
            found |= below[child - 1] if child > leaves else {child - 1}
        below.append(found)
    cost = np.full((leaves, leaves), 255, dtype=np.uint8)
    np.fill_diagonal(cost, 0)
    for synset, leaf_set in sorted(zip(synsets, below, strict=True), key=lambda p: -p[0].height):
        index = np.array(sorted(leaf_set), dtype=np.int64)
        if index.size > 1:
            block = np.ix_(index, index)
            cost[block] = np.minimum(cost[block], synset.height)
    np.fill_diagonal(cost, 0)
    return cost


def meta_mat(year: int, synsets: Sequence[Synset], *, with_costs: bool) -> bytes:
    """The bytes of a ``meta.mat``: IDs 1..L the leaves (no children), then the inner synsets,
    each listed after its children. ``with_costs`` adds the 2010 devkit's cost matrix."""
    id_field = f"ILSVRC{year}_ID"
    table = np.zeros((1, len(synsets)), dtype=[(id_field, object)] + [(f, object) for f in FIELDS])
    for i, synset in enumerate(synsets):
        table[0, i] = (
            np.uint16(i + 1), synset.wnid, synset.words, "", np.uint8(len(synset.children)),
            np.array(synset.children, dtype=np.uint16), np.uint8(synset.height),
            np.uint16(0 if synset.children else 1300),
        )
    content: dict[str, object] = {"synsets": table}
    if with_costs:
        leaves = sum(1 for s in synsets if not s.children)
        content["cost_matrix"] = cost_matrix(synsets, leaves)
    # Imported here: scipy is large, and only writing the demo's meta.mat needs it.
    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, content, do_compression=True)
    # The 116-byte text header carries the time of writing; a fixed one keeps the file
    # (and so its checksum) the same on every run. Readers ignore this text.
    return HEADER + buffer.getvalue()[len(HEADER):]
