"""Class lists: ILSVRC IDs and wnids mapped to one internal class index.

Internal class ``i`` is ILSVRC ID ``i + 1``. For a devkit ``meta.mat`` that is
the devkit's ID order; for a plain list (or Kaggle's ``LOC_synset_mapping.txt``)
it is the line order. Kaggle's list is sorted by wnid, which is NOT the devkit's
ID order, so files using IDs must be scored with the class list they were made
for; files using wnids work with any list.

Only hierarchical (2010) tracks need the cost matrix: a hierarchy's is built on
first use, not when the list is read. A ``meta.mat`` is read by
``scorer.matfile`` without scipy (imported only for a .mat that reader leaves to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scorer.errors import FormatError
from scorer.hierarchy import Hierarchy, cost_matrix
from scorer.matfile import read_mat
from scorer.sources import Source, decode_text, read_bytes, sniff, split_lines


@dataclass(frozen=True, eq=False)
class ClassList:
    """The leaf classes of a challenge. ``len()`` is the number of classes."""

    wnids: tuple[str, ...]
    names: tuple[str, ...]
    #: The cost matrix as given (a 2010 ``meta.mat`` carries one); see ``cost_matrix``.
    costs: np.ndarray | None = None
    hierarchy: Hierarchy | None = None
    _by_wnid: dict[str, int] = field(init=False, repr=False, compare=False)
    _built_costs: list[np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_wnid: dict[str, int] = {}
        for i, wnid in enumerate(self.wnids):
            if wnid in by_wnid:
                raise FormatError("the class list names a wnid twice", line=i + 1, token=wnid)
            by_wnid[wnid] = i
        object.__setattr__(self, "_by_wnid", by_wnid)
        object.__setattr__(self, "_built_costs", [])

    @property
    def has_costs(self) -> bool:
        """Whether hierarchical scoring is possible (a cost matrix, given or buildable)."""
        return self.costs is not None or self.hierarchy is not None

    @property
    def cost_matrix(self) -> np.ndarray | None:
        """(L, L) hierarchical cost: the given matrix, else built from the hierarchy on
        first use (a second or more for 1,000 classes, so never for flat tracks)."""
        if self.costs is not None:
            return self.costs
        if self.hierarchy is None:
            return None
        if not self._built_costs:
            # Two threads may both build it; the results are equal and one is kept.
            self._built_costs.append(cost_matrix(self.hierarchy, len(self.wnids)))
        return self._built_costs[0]

    def __len__(self) -> int:
        return len(self.wnids)

    def index(self, token: str) -> int:
        """Internal index of an ILSVRC ID ("1".."n") or a wnid; KeyError if neither."""
        if token.isascii() and token.isdigit():
            number = int(token)
            if 1 <= number <= len(self.wnids):
                return number - 1
            raise KeyError(token)
        return self._by_wnid[token]

    def lookup(self) -> dict[str, int]:
        """wnid -> index (for parsers that resolve many tokens)."""
        return self._by_wnid

    def label_error(self, token: str, line: int | None) -> FormatError:
        """The FormatError for a token that is not a class of this list."""
        n = len(self.wnids)
        if token.isascii() and token.isdigit():
            return FormatError(f"class ID out of range: IDs are 1..{n}", line=line, token=token)
        return FormatError(
            f"not a class: expected an ID 1..{n} or one of the {n} wnids", line=line, token=token
        )


def load_classes(source: Source) -> ClassList:
    """A class list from a devkit ``meta.mat``, ``LOC_synset_mapping.txt`` or a plain list."""
    data = read_bytes(source)
    if sniff(data) == "mat":
        return _from_meta_mat(data)
    return _from_text(decode_text(data))


def _from_text(text: str) -> ClassList:
    wnids: list[str] = []
    names: list[str] = []
    for number, line in enumerate(split_lines(text), 1):
        parts = line.strip().split(None, 1)
        if not parts:
            raise FormatError("empty line in the class list: expected 'wnid description'", line=number)
        wnid = parts[0]
        if wnid.isdigit():
            raise FormatError("a class name must not be a number (numbers are IDs)", line=number,
                              token=wnid)
        wnids.append(wnid)
        names.append(parts[1].strip() if len(parts) > 1 else wnid)
    if not wnids:
        raise FormatError("the class list is empty")
    return ClassList(tuple(wnids), tuple(names))


def _scalar(value: object) -> int:
    return int(np.asarray(value).reshape(-1)[0])


def _from_meta_mat(data: bytes) -> ClassList:
    # scorer.matfile reads the devkits' files without scipy (0.2-0.3 s to import).
    mat = read_mat(data, "meta.mat")
    synsets = mat.get("synsets")
    if synsets is None or synsets.dtype.names is None:
        raise FormatError("meta.mat has no 'synsets' struct array")
    fields = synsets.dtype.names
    id_field = next((f for f in fields if f.endswith("_ID")), None)
    missing = {"WNID", "words", "num_children", "children"} - set(fields)
    if id_field is None or missing:
        raise FormatError(f"meta.mat 'synsets' lacks fields: {sorted(missing) or ['*_ID']}")
    synsets = np.atleast_1d(synsets)
    ids = np.array([_scalar(s[id_field]) for s in synsets])
    kids = [tuple(int(c) for c in np.atleast_1d(s["children"]).reshape(-1)) for s in synsets]
    leaf_rows = [r for r in range(len(synsets)) if _scalar(synsets[r]["num_children"]) == 0]
    leaf_rows.sort(key=lambda r: ids[r])
    if [int(ids[r]) for r in leaf_rows] != list(range(1, len(leaf_rows) + 1)):
        raise FormatError("meta.mat leaf classes are not numbered 1..n")
    wnids = tuple(str(synsets[r]["WNID"]) for r in leaf_rows)
    names = tuple(str(synsets[r]["words"]) for r in leaf_rows)

    hierarchy = None
    if "wordnet_height" in fields:
        # Nodes: leaves first in ID order (so node i is class i), then the rest by ID.
        leaves = set(leaf_rows)  # once: building it per row was quadratic (30-70 ms)
        inner_rows = sorted((r for r in range(len(synsets)) if r not in leaves), key=lambda r: ids[r])
        rows = leaf_rows + inner_rows
        node_of_id = {int(ids[r]): n for n, r in enumerate(rows)}
        try:
            children = tuple(tuple(node_of_id[c] for c in kids[r]) for r in rows)
        except KeyError as exc:
            raise FormatError(f"meta.mat names a child ID that is not a synset: {exc}") from None
        heights = np.array([_scalar(synsets[r]["wordnet_height"]) for r in rows])
        hierarchy = Hierarchy(children, heights)

    costs = mat.get("cost_matrix")
    if costs is not None:
        costs = np.asarray(costs)
        if costs.shape != (len(wnids), len(wnids)):
            raise FormatError(f"meta.mat cost_matrix is {costs.shape}, expected {len(wnids)} square")
    # Without one, ``ClassList.cost_matrix`` builds it from the hierarchy when asked.
    return ClassList(wnids, names, costs, hierarchy)
