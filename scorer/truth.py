"""Hidden ground truth: labels, boxes and the blacklist.

Read from devkit label files, Kaggle's ``LOC_val_solution.csv``, or PASCAL VOC
XML annotations (a folder or a .tar/.tgz). Problems raise ``FormatError`` for
the organizer; these messages are never shown to competitors.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorer.classes import ClassList
from scorer.errors import FormatError
from scorer.kaggle import read_rows
from scorer.sources import Source, decode_text, read_bytes, sniff, split_lines, xml_files

_TRAILING_NUMBER = re.compile(r"(\d+)$")


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
    image: list[int]
    label: list[int]
    coords: list[tuple[float, float, float, float]]
    first_label: dict[int, int]  # image -> label of its first box


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
        images = 1 + max(found.image, default=-1)
        unlabeled = next((i for i in range(images) if i not in found.first_label), None)
        if unlabeled is not None or images == 0:
            raise FormatError(f"image {(unlabeled or 0) + 1} has no box to take its label from; "
                              "give the labels file too")
        label_array = np.array([found.first_label[i] for i in range(images)], dtype=np.int64)
    assert images is not None
    if found is None:
        found = _Boxes([], [], [], {})

    order = np.argsort(np.asarray(found.image, dtype=np.int64), kind="stable")
    box_image = np.asarray(found.image, dtype=np.int64)[order]
    box_label = np.asarray(found.label, dtype=np.int64)[order]
    box_coords = np.asarray(found.coords, dtype=np.float64).reshape(-1, 4)[order]
    black = np.zeros(images, dtype=bool)
    if blacklist is not None:
        black[_read_blacklist(read_bytes(blacklist), images)] = True
    return GroundTruth(images, label_array, box_image, box_label, box_coords, black)


def _is_dir(source: Source) -> bool:
    return not isinstance(source, bytes) and Path(source).is_dir()


def _read_labels(classes: ClassList, data: bytes) -> np.ndarray:
    if not data.strip():
        raise FormatError("the label file is empty")
    text = decode_text(data)
    if sniff(data) == "csv":
        rows = read_rows(text, None)
        out = np.empty(len(rows), dtype=np.int64)
        for row in rows:
            if not row.tokens:
                raise FormatError("a solution row has no label", line=row.line)
            out[row.image] = _label(classes, row.tokens[0], row.line)
        return out
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
    found = _Boxes([], [], [], {})
    for row in read_rows(decode_text(data), images):
        if not row.tokens or len(row.tokens) % 5:
            raise FormatError("a solution row must hold groups of 'wnid xmin ymin xmax ymax'",
                              line=row.line, token=" ".join(row.tokens[:5]) or None)
        for g in range(0, len(row.tokens), 5):
            label = _label(classes, row.tokens[g], row.line)
            x0, y0, x1, y1 = (_coord(t, row.line) for t in row.tokens[g + 1 : g + 5])
            found.image.append(row.image)
            found.label.append(label)
            found.coords.append((x0, y0, x1, y1))
            found.first_label.setdefault(row.image, label)
    return found


def _from_xml(classes: ClassList, files: Iterator[tuple[str, bytes]], images: int | None) -> _Boxes:
    found = _Boxes([], [], [], {})
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
            found.image.append(image)
            found.label.append(label)
            found.coords.append(coords)  # type: ignore[arg-type]
            found.first_label.setdefault(image, label)
    total = images if images is not None else (max(seen) + 1 if seen else 0)
    if not seen or len(seen) != total:
        missing = next((i for i in range(total) if i not in seen), 0)
        raise FormatError(f"expected {total} annotation files, found {len(seen)} "
                          f"(none for image {missing + 1})")
    return found


def _read_blacklist(data: bytes, images: int) -> np.ndarray:
    indices: list[int] = []
    for number, line in enumerate(split_lines(decode_text(data)), 1):
        for token in line.split():
            if not (token.isascii() and token.isdigit()) or not 1 <= int(token) <= images:
                raise FormatError(f"a blacklist entry must be an image number 1..{images}",
                                  line=number, token=token)
            indices.append(int(token) - 1)
    return np.asarray(indices, dtype=np.int64)
