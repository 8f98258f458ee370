"""Hidden ground truth: labels, boxes and the blacklist.

Read from devkit label files, Kaggle's ``LOC_val_solution.csv``, or PASCAL VOC
XML annotations (a folder or a .tar/.tgz). Problems raise ``FormatError`` for
the organizer; these messages are never shown to competitors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorer.classes import ClassList
from scorer.errors import FormatError
from scorer.fastparse import parse_kaggle_boxes, parse_numbers
from scorer.kaggle import HEADER, read_rows
from scorer.sources import Source, decode_text, read_bytes, sniff, split_lines, xml_files

_TRAILING_NUMBER = re.compile(r"(\d+)$")
#: The vectorized CSV parse reads wnids of this shape as numbers.
_WNID_SHAPE = re.compile(r"n\d{8}\Z")


@dataclass(eq=False)
class GroundTruth:
    """N images; boxes as flat arrays sorted by image (``box_image`` is 0-based)."""

    images: int
    labels: np.ndarray  # (N,) int64 class index
    box_image: np.ndarray  # (M,) int64
    box_label: np.ndarray  # (M,) int64
    box_coords: np.ndarray  # (M, 4) float64 xmin ymin xmax ymax
    blacklist: np.ndarray  # (N,) bool

    @property
    def has_boxes(self) -> bool:
        return self.box_image.size > 0


@dataclass
class _Boxes:
    """Boxes in reading order (not yet sorted by image)."""

    image: np.ndarray  # (M,) int64
    label: np.ndarray  # (M,) int64
    coords: np.ndarray  # (M, 4) float64

    @classmethod
    def from_lists(cls, image: list[int], label: list[int],
                   coords: list[tuple[float, float, float, float]]) -> _Boxes:
        return cls(np.asarray(image, dtype=np.int64), np.asarray(label, dtype=np.int64),
                   np.asarray(coords, dtype=np.float64).reshape(-1, 4))

    def first_labels(self, images: int) -> np.ndarray:
        """(images,) label of each image's first box; -1 for an image without one."""
        out = np.full(images, -1, dtype=np.int64)
        seen, first = np.unique(self.image, return_index=True)
        out[seen] = self.label[first]
        return out


def load_ground_truth(
    classes: ClassList,
    labels: Source | None = None,
    boxes: Source | None = None,
    blacklist: Source | None = None,
) -> GroundTruth:
    """Ground truth from a label file and/or boxes; labels may come from a Kaggle solution CSV."""
    label_array: np.ndarray | None = None
    if labels is not None:
        label_array = _read_labels(classes, read_bytes(labels) if not _is_dir(labels) else b"")
    images = None if label_array is None else int(label_array.size)

    found: _Boxes | None = None
    if boxes is not None:
        found = _read_boxes(classes, boxes, images)
    if label_array is None:
        if found is None:
            raise FormatError("ground truth needs labels, or boxes from which to take them")
        images = 1 + int(found.image.max(initial=-1))
        label_array = found.first_labels(images)
        unlabeled = np.flatnonzero(label_array < 0)
        if unlabeled.size or images == 0:
            raise FormatError(f"image {int(unlabeled[0]) + 1 if unlabeled.size else 1} has no box to "
                              "take its label from; give the labels file too")
    assert images is not None
    if found is None:
        found = _Boxes.from_lists([], [], [])

    box_image, box_label, box_coords = found.image, found.label, found.coords
    if (np.diff(box_image) < 0).any():
        order = np.argsort(box_image, kind="stable")
        box_image, box_label, box_coords = box_image[order], box_label[order], box_coords[order]
    black = np.zeros(images, dtype=bool)
    if blacklist is not None:
        black[_read_blacklist(read_bytes(blacklist), images)] = True
    return GroundTruth(images, label_array, box_image, box_label, box_coords, black)


def _is_dir(source: Source) -> bool:
    return not isinstance(source, bytes) and Path(source).is_dir()


def _read_labels(classes: ClassList, data: bytes) -> np.ndarray:
    if not data.strip():
        raise FormatError("the label file is empty")
    if sniff(data) == "csv":
        fast = _fast_csv(classes, data, None)
        if fast is not None:
            return fast.first_labels(int(fast.image.max()) + 1)
        rows = read_rows(decode_text(data), None)
        out = np.empty(len(rows), dtype=np.int64)
        for row in rows:
            if not row.tokens:
                raise FormatError("a solution row has no label", line=row.line)
            out[row.image] = _label(classes, row.tokens[0], row.line)
        return out
    fast_labels = parse_numbers(data, group=1, guesses=1, n_classes=len(classes), images=None)
    if fast_labels is not None and not fast_labels.ignored and fast_labels.labels.min() >= 0:
        return fast_labels.labels[:, 0].astype(np.int64)
    text = decode_text(data)
    values: list[int] = []
    for number, line in enumerate(split_lines(text), 1):
        tokens = line.split()
        if len(tokens) != 1:
            raise FormatError(f"expected one label per line, found {len(tokens)}", line=number,
                              token=line.strip() or None)
        values.append(_label(classes, tokens[0], number))
    return np.asarray(values, dtype=np.int64)


def _label(classes: ClassList, token: str, line: int) -> int:
    try:
        return classes.index(token)
    except KeyError:
        raise classes.label_error(token, line) from None


def _coord(token: str, line: int | None) -> float:
    try:
        value = float(token)
    except ValueError:
        raise FormatError("a box coordinate must be a number", line=line, token=token) from None
    if not math.isfinite(value):
        raise FormatError("a box coordinate must be finite (not NaN or infinity)", line=line, token=token)
    return value


def _read_boxes(classes: ClassList, source: Source, images: int | None) -> _Boxes:
    if _is_dir(source):
        return _from_xml(classes, xml_files(Path(source)), images)
    data = read_bytes(source)
    kind = sniff(data)
    if kind == "tar":
        return _from_xml(classes, xml_files(data), images)
    if kind != "csv":
        raise FormatError("boxes must be a Kaggle solution CSV ('ImageId,PredictionString'), "
                          "or a folder or tar of PASCAL VOC XML files")
    fast = _fast_csv(classes, data, images)
    return fast if fast is not None else _csv_boxes_precise(classes, data, images)


def _fast_csv(classes: ClassList, data: bytes, images: int | None) -> _Boxes | None:
    """The vectorized parse (``scorer.fastparse``), or None where only the precise
    parser can decide (it then runs and names the line)."""
    if not all(_WNID_SHAPE.match(w) for w in classes.wnids):
        return None
    table = parse_kaggle_boxes(data, header=HEADER, lookup=classes.lookup(), images=images)
    return None if table is None else _Boxes(table.image, table.label, table.coords)


def _csv_boxes_precise(classes: ClassList, data: bytes, images: int | None) -> _Boxes:
    """Token by token: slow, but it explains the first problem with its line."""
    image: list[int] = []
    label: list[int] = []
    coords: list[tuple[float, float, float, float]] = []
    for row in read_rows(decode_text(data), images):
        if not row.tokens or len(row.tokens) % 5:
            raise FormatError("a solution row must hold groups of 'wnid xmin ymin xmax ymax'",
                              line=row.line, token=" ".join(row.tokens[:5]) or None)
        for g in range(0, len(row.tokens), 5):
            label.append(_label(classes, row.tokens[g], row.line))
            x0, y0, x1, y1 = (_coord(t, row.line) for t in row.tokens[g + 1 : g + 5])
            image.append(row.image)
            coords.append((x0, y0, x1, y1))
    return _Boxes.from_lists(image, label, coords)


def _from_xml(classes: ClassList, files: Iterator[tuple[str, bytes]], images: int | None) -> _Boxes:
    import xml.etree.ElementTree as ET  # XML ground truth only, as tarfile

    box_image: list[int] = []
    box_label: list[int] = []
    box_coords: list[tuple[float, float, float, float]] = []
    seen: set[int] = set()
    for name, data in files:
        match = _TRAILING_NUMBER.search(Path(name).stem)
        if match is None:
            raise FormatError("an annotation file name must end with the image's number", token=name)
        image = int(match.group(1)) - 1
        if image < 0 or (images is not None and image >= images) or image in seen:
            raise FormatError("annotation file number out of range or repeated", token=name)
        seen.add(image)
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise FormatError(f"{name}: not well-formed XML ({exc})") from None
        for obj in root.iter("object"):
            wnid = (obj.findtext("name") or "").strip()
            box = obj.find("bndbox")
            if box is None:
                raise FormatError(f"{name}: an <object> has no <bndbox>", token=wnid)
            try:
                label = classes.index(wnid)
            except KeyError:
                raise FormatError(f"{name}: unknown class", token=wnid) from None
            coords = tuple(_coord((box.findtext(tag) or "").strip(), None)
                           for tag in ("xmin", "ymin", "xmax", "ymax"))
            box_image.append(image)
            box_label.append(label)
            box_coords.append(coords)  # type: ignore[arg-type]
    total = images if images is not None else (max(seen) + 1 if seen else 0)
    if not seen or len(seen) != total:
        missing = next((i for i in range(total) if i not in seen), 0)
        raise FormatError(f"expected {total} annotation files, found {len(seen)} "
                          f"(none for image {missing + 1})")
    return _Boxes.from_lists(box_image, box_label, box_coords)


def _read_blacklist(data: bytes, images: int) -> np.ndarray:
    indices: list[int] = []
    for number, line in enumerate(split_lines(decode_text(data)), 1):
        for token in line.split():
            if not (token.isascii() and token.isdigit()) or not 1 <= int(token) <= images:
                raise FormatError(f"a blacklist entry must be an image number 1..{images}",
                                  line=number, token=token)
            indices.append(int(token) - 1)
    return np.asarray(indices, dtype=np.int64)
