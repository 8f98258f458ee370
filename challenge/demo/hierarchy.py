"""A small WordNet-shaped hierarchy over the demo's 100 classes.

Heights follow WordNet's idea (a leaf is 0, a parent is one more than its highest
child, give or take the levels WordNet has between them), so the 2010 demo's
hierarchical cost behaves like the real one: a shark taken for another shark
costs 2, for a tench 6, for a spider 13.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from challenge.demo.classes import NAMES
from challenge.demo.metamat import Synset, cost_matrix

Node = tuple[str, int, tuple["Node | int", ...]]


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


#: (name, WordNet height, children): ints are class IDs (1-based, the order of ``NAMES``).
TREE: Node = ("animal", 14, (
    ("vertebrate", 12, (
        ("fish", 6, (
            ("cyprinid", 2, (1, 2)),
            ("elasmobranch", 4, (("shark", 2, _span(3, 5)), ("ray", 2, (6, 7)))),
        )),
        ("bird", 9, (
            ("gallinaceous bird", 4, (("domestic fowl", 2, (8, 9)), ("grouse", 2, _span(77, 80)),
                                      ("phasianid", 3, _span(81, 83)))),
            ("ratite", 2, (10,)),
            ("passerine", 5, (("finch", 2, _span(11, 14)), ("thrush", 2, (15, 16)),
                              ("corvine bird", 2, (17, 18)), 19, 20)),
            ("bird of prey", 4, (("hawk", 3, _span(21, 23)), 24)),
            ("parrot", 2, _span(84, 87)),
            ("coraciiform bird", 4, _span(88, 93)),
            ("anseriform bird", 3, (("duck", 2, (94, 95)), 96, 97)),
        )),
        ("amphibian", 5, (("salamander", 3, _span(25, 28)), ("frog", 3, (29, 30)))),
        ("reptile", 8, (
            ("turtle", 3, _span(31, 35)),
            ("diapsid", 7, (
                ("lizard", 4, (*_span(36, 37), ("chameleon", 2, (38, 45)), *_span(39, 44), 46)),
                ("crocodilian", 2, (47, 48)),
                ("dinosaur", 2, (49,)),
                ("snake", 5, (("colubrid", 3, _span(50, 58)), ("boa", 2, (59, 60)),
                              ("elapid", 2, _span(61, 63)), ("viper", 2, _span(64, 66)))),
            )),
        )),
        ("mammal", 9, (("elephant", 3, (98,)), ("monotreme", 2, (99, 100)))),
    )),
    ("arthropod", 8, (67, ("arachnid", 4, (68, 69, ("spider", 2, _span(70, 74)), 75)), 76)),
))


def _inner_wnid(k: int) -> str:
    return f"n{10000000 + k * 104729:08d}"  # made up, and never one of the leaves' ids


def synsets(wnid_of_leaf: tuple[str, ...]) -> list[Synset]:
    """Leaves 1..100 first, then the inner synsets, each after its children."""
    out = [Synset(w, n) for w, n in zip(wnid_of_leaf, NAMES, strict=True)]

    def visit(node: Node) -> int:
        name, height, children = node
        ids = tuple(c if isinstance(c, int) else visit(c) for c in children)
        out.append(Synset(_inner_wnid(len(out)), name, height, ids))
        return len(out)

    visit(TREE)
    return out


@lru_cache(maxsize=1)
def costs() -> np.ndarray:
    """(100, 100) hierarchical cost between the demo classes (0-based)."""
    leaves = tuple(f"n{i:08d}" for i in range(len(NAMES)))
    return cost_matrix(synsets(leaves), len(NAMES))
