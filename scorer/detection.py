"""ILSVRC object detection (DET, 2013-2017): mean average precision, exact to the devkit.

The rules are those of the ILSVRC 2014 devkit's ``eval_detection.m`` (re-implemented
here from its documented behaviour, vectorized with numpy):

- boxes are inclusive pixels (a box's width is ``xmax - xmin + 1``);
- each ground-truth object has its own IoU threshold ``min(0.5, w*h / ((w+10)*(h+10)))``;
- within an image, detections are taken in descending confidence (ties in file
  order); each takes the not-yet-matched object of its class with the highest IoU
  reaching that object's threshold (a true positive), else it is a false positive;
- per class, detections are ranked by descending confidence, ties in image-id
  order then file order; AP is the PASCAL VOC all-points area; the score is the
  mean AP over classes;
- blacklist ``image_id wnid`` lines: that class's detections in that image are
  ignored and its objects there are not counted.

Ground truth comes from VOC XML files (a folder or a tar) named after the image
list's basenames, or from a compact CSV ``image_id,wnid,xmin,ymin,xmax,ymax``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from scorer.errors import FormatError
from scorer.matfile import read_mat
from scorer.sources import (
    DEFAULT_MAX_DECOMPRESSED,
    Source,
    decode_text,
    read_bytes,
    sniff,
    split_lines,
    xml_files,
)

#: The devkit's IoU threshold and the pixel tolerance that loosens it for small objects.
IOU_THRESHOLD, PIXEL_TOLERANCE = 0.5, 10.0
#: Fields of a detection line: image_id class_id confidence xmin ymin xmax ymax.
FIELDS = 7
#: A class's bootstrap terms are a dense (TPs x images) matrix for BLAS when it has at
#: most this many cells per false positive (a float32 multiply-add costs about 1/80 of a
#: gathered element here); else a gather of one element per false positive.
DENSE_FACTOR = 64
#: The dense matrices of all classes together stay under this many cells (64 MB).
DENSE_CELLS = 16_000_000
#: A dense cell's cost in the bootstrap's work estimate, in gathered elements.
DENSE_COST = 1 / 16
#: Integers below this are exact in float32 (the dense counts and their sums).
_FLOAT32_EXACT = 2**24
#: Element operations the bootstrap may spend in all (about 5 s here), and the fewest
#: replicates it falls back to for a file too large for the full count.
BOOTSTRAP_BUDGET, MIN_REPLICATES = 2_000_000_000, 200
#: Cells of a bootstrap batch's weight matrices (temporaries near 32 MB).
BATCH_CELLS = 4_000_000
#: The header of the compact ground-truth CSV.
COMPACT_HEADER = "image_id,wnid,xmin,ymin,xmax,ymax"
_NEWLINE, _SPACE = ord("\n"), ord(" ")
#: Integers above this are not exact in float64 (image ids are read as floats).
_MAX_EXACT = 2**53
#: Bytes of numeric text a fast-path detection file may hold.
_NUMBER_BYTES = b"0123456789.eE+-\t\n\v\f\r "


@dataclass(frozen=True, eq=False)
class DetClasses:
    """The detection classes: class id ``i + 1`` is ``wnids[i]``."""

    wnids: tuple[str, ...]
    names: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for i, wnid in enumerate(self.wnids):
            if wnid in index:
                raise FormatError("the class list names a wnid twice", line=i + 1, token=wnid)
            index[wnid] = i
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.wnids)

    def index(self, wnid: str) -> int:
        """0-based class of a wnid; KeyError if it is not one of the classes."""
        return self._index[wnid]


#: An image list whose ids are at most this many times its length (plus 65,536) maps
#: ids to rows through a table (8 bytes an id) rather than a binary search.
_LOOKUP_SPAN = 16


@dataclass(frozen=True, eq=False)
class ImageList:
    """The image list (``val.txt``): line ``i`` is image ``i`` (0-based), ``basename image_id``."""

    basenames: tuple[str, ...]
    ids: np.ndarray  # (N,) int64, the numeric image ids of the submission
    _sorted_ids: np.ndarray = field(init=False, repr=False)
    _sorted_rows: np.ndarray = field(init=False, repr=False)
    #: id + 1 -> row (-1: none), for ids up to a few times the list's length (ILSVRC's
    #: are 1..N): one gather instead of a binary search per detection.
    _lookup: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        order = np.argsort(self.ids, kind="stable")
        object.__setattr__(self, "_sorted_ids", self.ids[order])
        object.__setattr__(self, "_sorted_rows", order)
        if self.ids.size and 0 <= self.ids.min() and self.ids.max() <= _LOOKUP_SPAN * self.ids.size + 65_536:
            lookup = np.full(int(self.ids.max()) + 3, -1, dtype=np.int64)
            lookup[self.ids + 1] = np.arange(self.ids.size)
            object.__setattr__(self, "_lookup", lookup)

    def __len__(self) -> int:
        return len(self.basenames)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """0-based list rows of numeric image ids; -1 where an id is not in the list."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._lookup is not None:  # ids outside the table land on its -1 ends
            return self._lookup[np.clip(ids, -1, self._lookup.size - 2) + 1]
        if self._sorted_ids.size == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted_ids, ids), self._sorted_ids.size - 1)
        return np.where(self._sorted_ids[at] == ids, self._sorted_rows[at], -1)


@dataclass(eq=False)
class DetTruth:
    """Ground-truth objects as flat arrays (``image`` is the 0-based list row)."""

    images: ImageList
    classes: DetClasses
    image: np.ndarray  # (M,) int64
    label: np.ndarray  # (M,) int64, 0-based class
    coords: np.ndarray  # (M, 4) float64 xmin ymin xmax ymax
    #: (B, 2) blacklisted (row, class) pairs
    blacklist: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def objects(self) -> int:
        return int(self.image.size)


@dataclass(eq=False)
class Detections:
    """Parsed detections in file order (``image`` is the 0-based list row)."""

    image: np.ndarray  # (D,) int64
    label: np.ndarray  # (D,) int64, 0-based class
    confidence: np.ndarray  # (D,) float64
    boxes: np.ndarray  # (D, 4) float64

    def __len__(self) -> int:
        return int(self.image.size)


@dataclass(eq=False)
class DetectionResult:
    """Mean AP and what a board needs to recompute or resample it."""

    images: int
    detections: int
    score: float
    ap_per_class: np.ndarray  # (C,) float64; NaN for a class with no positives
    ci95: tuple[float, float]
    positives: np.ndarray  # (C,) int64 objects counted per class
    true_positives: np.ndarray  # (D,) bool in file order (False for ignored detections)
    ignored: np.ndarray  # (D,) bool, blacklisted detections
    warnings: list[str] = field(default_factory=list)
    task: str = "detection"
    #: Mean AP of each bootstrap resample (same seed: the same images for every submission).
    replicates: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; NaN (no class has an object) becomes null."""
        return {
            "task": self.task,
            "images": self.images,
            "detections": self.detections,
            "score": _finite(self.score),
            "ap_per_class": [_finite(x) for x in self.ap_per_class],
            "ci95": [_finite(self.ci95[0]), _finite(self.ci95[1])],
            "warnings": list(self.warnings),
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# ---------------------------------------------------------------------------- loading


def load_det_classes(source: Source) -> DetClasses:
    """A devkit ``meta_det.mat`` (leaf synsets by their ``*_ID``) or a list of wnids, one a line."""
    data = read_bytes(source)
    if sniff(data) == "mat":
        return _classes_from_mat(data)
    wnids: list[str] = []
    names: list[str] = []
    for number, line in enumerate(split_lines(decode_text(data)), 1):
        parts = line.strip().split(None, 1)
        if not parts:
            raise FormatError("empty line in the class list: expected 'wnid [description]'", line=number)
        if parts[0].isdigit():
            raise FormatError("a class must be a wnid, not a number (numbers are class ids)",
                              line=number, token=parts[0])
        wnids.append(parts[0])
        names.append(parts[1].strip() if len(parts) > 1 else parts[0])
    if not wnids:
        raise FormatError("the class list is empty")
    return DetClasses(tuple(wnids), tuple(names))


def _classes_from_mat(data: bytes) -> DetClasses:
    mat = read_mat(data, "meta_det.mat")  # scipy only if scorer.matfile cannot read it
    synsets = mat.get("synsets")
    if synsets is None or synsets.dtype.names is None:
        raise FormatError("meta_det.mat has no 'synsets' struct array")
    fields = synsets.dtype.names
    id_field = next((f for f in fields if f.endswith("_ID")), None)
    if id_field is None or "WNID" not in fields:
        raise FormatError("meta_det.mat 'synsets' needs a *_ID field and WNID")
    synsets = np.atleast_1d(synsets)
    rows = range(len(synsets))
    if "num_children" in fields:  # the devkit's hierarchy: the leaves are the classes
        rows = [r for r in rows if int(np.asarray(synsets[r]["num_children"]).reshape(-1)[0]) == 0]
    ids = {int(np.asarray(synsets[r][id_field]).reshape(-1)[0]): r for r in rows}
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise FormatError(f"meta_det.mat classes are not numbered 1..n by {id_field}")
    name_field = next((f for f in ("name", "words") if f in fields), "WNID")
    order = [ids[i] for i in range(1, len(ids) + 1)]
    return DetClasses(tuple(str(synsets[r]["WNID"]) for r in order),
                      tuple(str(synsets[r][name_field]) for r in order))


def load_image_list(source: Source) -> ImageList:
    """``val.txt``: ``basename image_id`` per line (a lone basename takes its line number)."""
    names: list[str] = []
    ids: list[int] = []
    seen: dict[int, int] = {}
    for number, line in enumerate(split_lines(decode_text(read_bytes(source))), 1):
        tokens = line.split()
        if not tokens:
            raise FormatError("empty line in the image list: expected 'basename image_id'", line=number)
        if len(tokens) > 2:
            raise FormatError(f"expected 'basename image_id', found {len(tokens)} fields", line=number)
        image_id = number
        if len(tokens) == 2:
            if not (tokens[1].isascii() and tokens[1].isdigit()) or int(tokens[1]) > _MAX_EXACT:
                raise FormatError("an image id must be a non-negative integer", line=number,
                                  token=tokens[1])
            image_id = int(tokens[1])
        if image_id in seen:
            raise FormatError(f"image id {image_id} is already used on line {seen[image_id]}",
                              line=number)
        seen[image_id] = number
        names.append(tokens[0])
        ids.append(image_id)
    if not names:
        raise FormatError("the image list is empty")
    return ImageList(tuple(names), np.asarray(ids, dtype=np.int64))


def load_det_truth(images: ImageList, classes: DetClasses, boxes: Source,
                   blacklist: Source | None = None) -> DetTruth:
    """Objects from VOC XML (a folder, or a .tar/.tgz) or the compact CSV, plus the blacklist."""
    if not isinstance(boxes, bytes) and Path(boxes).is_dir():
        found = _from_xml(images, classes, _stems(xml_files(Path(boxes))))
    else:
        data = read_bytes(boxes)
        kind = sniff(data)
        if kind == "tar":
            found = _from_xml(images, classes, _stems(xml_files(data)))
        elif kind == "csv":
            found = _from_compact(images, classes, decode_text(data))
        else:
            raise FormatError(f"boxes must be a folder or tar of VOC XML files, or a CSV "
                              f"'{COMPACT_HEADER}'")
    image, label, coords = found
    truth = DetTruth(images, classes, image, label, coords)
    if blacklist is not None:
        truth.blacklist = load_det_blacklist(blacklist, images, classes)
    return truth


def _stems(files: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """VOC files are named by their image: the name without ``.xml``."""
    for name, data in files:
        yield PurePosixPath(name).stem, data


def _number(token: str, where: str, line: int | None = None) -> float:
    try:
        if "_" in token or not token.isascii():
            raise ValueError(token)
        value = float(token)
    except ValueError:
        raise FormatError(f"{where}a box coordinate must be a number", line=line, token=token) from None
    if not math.isfinite(value):
        raise FormatError(f"{where}a box coordinate must be finite", line=line, token=token)
    return value


_Objects = tuple[np.ndarray, np.ndarray, np.ndarray]


def _objects(image: list[int], label: list[int], coords: list[float]) -> _Objects:
    return (np.asarray(image, dtype=np.int64), np.asarray(label, dtype=np.int64),
            np.asarray(coords, dtype=np.float64).reshape(-1, 4))


def _from_xml(images: ImageList, classes: DetClasses, files: Iterator[tuple[str, bytes]]) -> _Objects:
    """Objects of the listed images, in each file's order (the devkit breaks IoU ties by it).
    Files of images not in the list are skipped: a devkit folder holds the whole set."""
    import xml.etree.ElementTree as ET  # XML ground truth only: a cached or CSV run starts without it

    row_of = {name: i for i, name in enumerate(images.basenames)}
    found: dict[int, list[tuple[int, tuple[float, ...]]]] = {}
    for stem, data in files:
        row = row_of.get(stem)
        if row is None:
            continue
        if row in found:
            raise FormatError(f"{stem}.xml: two annotation files for the same image")
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise FormatError(f"{stem}.xml: not well-formed XML ({exc})") from None
        objects = []
        for obj in root.iter("object"):
            wnid = (obj.findtext("name") or "").strip()
            try:
                label = classes.index(wnid)
            except KeyError:
                raise FormatError(f"{stem}.xml: an object's class is not in the class list",
                                  token=wnid) from None
            box = obj.find("bndbox")
            if box is None:
                raise FormatError(f"{stem}.xml: an <object> has no <bndbox>", token=wnid)
            coords = tuple(_number((box.findtext(tag) or "").strip(), f"{stem}.xml: ")
                           for tag in ("xmin", "ymin", "xmax", "ymax"))
            objects.append((label, coords))
        found[row] = objects
    if len(found) != len(images):
        missing = next(i for i in range(len(images)) if i not in found)
        raise FormatError(f"no annotation file for image {images.basenames[missing]} "
                          f"(found {len(found)} of {len(images)})")
    image: list[int] = []
    label: list[int] = []
    coords: list[float] = []
    for row in range(len(images)):
        for obj_label, obj_coords in found[row]:
            image.append(row)
            label.append(obj_label)
            coords.extend(obj_coords)
    return _objects(image, label, coords)


def _row_of(images: ImageList, token: str, by_name: dict[str, int], line: int) -> int:
    if token.isascii() and token.isdigit():
        row = int(images.rows(np.array([int(token)]))[0]) if int(token) <= _MAX_EXACT else -1
    else:
        row = by_name.get(token, -1)
    if row < 0:
        raise FormatError("image id not in the image list", line=line, token=token)
    return row


def _from_compact(images: ImageList, classes: DetClasses, text: str) -> _Objects:
    """``image_id,wnid,xmin,ymin,xmax,ymax``: one object a line (image id or basename);
    listed images without a line have no objects."""
    lines = split_lines(text[1:] if text.startswith("\ufeff") else text)
    if not lines or lines[0].strip().replace(" ", "").lower() != COMPACT_HEADER:
        raise FormatError(f"wrong CSV header: expected '{COMPACT_HEADER}'", line=1,
                          token=lines[0][:60] if lines else None)
    by_name = {name: i for i, name in enumerate(images.basenames)}
    image: list[int] = []
    label: list[int] = []
    coords: list[float] = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6:
            raise FormatError(f"expected 6 fields '{COMPACT_HEADER}', found {len(fields)}", line=number)
        row = _row_of(images, fields[0], by_name, number)
        try:
            cls = classes.index(fields[1])
        except KeyError:
            raise FormatError("not a class of the class list", line=number, token=fields[1]) from None
        image.append(row)
        label.append(cls)
        coords.extend(_number(t, "", number) for t in fields[2:])
    obj = _objects(image, label, coords)
    order = np.argsort(obj[0], kind="stable")  # by image, file order within one
    return obj[0][order], obj[1][order], obj[2][order]


def load_det_blacklist(source: Source, images: ImageList, classes: DetClasses) -> np.ndarray:
    """``image_id wnid`` lines as (row, class) pairs."""
    by_name = {name: i for i, name in enumerate(images.basenames)}
    pairs: list[tuple[int, int]] = []
    for number, line in enumerate(split_lines(decode_text(read_bytes(source))), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2:
            raise FormatError(f"expected 'image_id wnid', found {len(tokens)} fields", line=number)
        row = _row_of(images, tokens[0], by_name, number)
        try:
            pairs.append((row, classes.index(tokens[1])))
        except KeyError:
            raise FormatError("not a class of the class list", line=number, token=tokens[1]) from None
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------------- submissions


def parse_detections(data: Source, *, images: ImageList, classes: int,
                     max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> Detections:
    """``image_id class_id confidence xmin ymin xmax ymax`` per line, any order.

    Blank lines are skipped (as the devkit's reader does). Refused with the first bad
    line: other than 7 fields, a token that is not a number, an image id not in the
    list, a class id outside 1..``classes``, a non-finite number.
    """
    raw = read_bytes(data, max_bytes=max_decompressed)
    if not raw or raw.isspace():
        raise FormatError("the file is empty")
    if sniff(raw) in ("mat", "tar"):
        raise FormatError("this is a binary file (MATLAB or tar), expected detection lines", line=1)
    table, line_of = _fast_table(raw)
    if table is None:
        table, line_of = _precise_table(decode_text(raw))
    return _check(table, line_of, images, classes)


#: Bytes the fast path parses at a time (whole lines). Its masks and integer buffers are
#: then this small and reused from chunk to chunk: a process's first touch of a page costs
#: a fault (~4 us here), and over a whole 34 MB file those temporaries were ~300 MB, half
#: of a cold parse. Only the table itself is file-sized.
_CHUNK = 1 << 21


def _fast_table(raw: bytes) -> tuple[np.ndarray | None, np.ndarray]:
    """numpy's parsers over the file, chunk by chunk of whole lines, with the token count
    of every line checked from the bytes; (None, ...) when anything is unusual."""
    none = np.zeros(0, dtype=np.int64)
    if b"\x00" in raw or raw.translate(None, _NUMBER_BYTES):
        return None, none
    if len(raw) <= _CHUNK:
        return _fast_chunk(raw)
    capacity = raw.count(b"\n") + 1  # no more rows than lines; untouched rows cost nothing
    table = np.empty((capacity, FIELDS), dtype=np.float64)
    line_of = np.empty(capacity, dtype=np.int64)
    start = rows = lines_before = 0
    while start < len(raw):
        end = raw.rfind(b"\n", start, start + _CHUNK) + 1
        if end <= start:  # a line longer than a chunk: take it whole
            end = raw.find(b"\n", start + _CHUNK) + 1 or len(raw)
        chunk = raw[start:end]
        part, part_lines = _fast_chunk(chunk)
        if part is None:
            return None, none
        table[rows : rows + len(part)] = part
        line_of[rows : rows + len(part)] = part_lines + lines_before
        rows += len(part)
        lines_before += chunk.count(b"\n")
        start = end
    return table[:rows], line_of[:rows]


def _fast_chunk(raw: bytes) -> tuple[np.ndarray | None, np.ndarray]:
    """``_fast_table`` on whole lines that hold only number bytes; line numbers from 1."""
    none = np.zeros(0, dtype=np.int64)
    buf = np.frombuffer(raw, dtype=np.uint8)
    solid = buf > _SPACE
    starts = np.empty(buf.size, dtype=bool)
    starts[0] = solid[0]
    np.greater(solid[1:], solid[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    del starts
    if first.size % FIELDS:
        return None, none
    # Each run of 7 tokens must lie on one line, and runs on distinct lines: then every
    # non-blank line holds exactly 7 (a short or long line breaks the alignment).
    ends = np.flatnonzero(buf == _NEWLINE)
    runs = first.size // FIELDS
    if ends.size in (runs, runs - 1):  # no blank line: run i must lie on line i
        bounds = np.concatenate(([-1], ends, [buf.size]))
        inside = (first[::FIELDS] > bounds[:runs]) & (first[FIELDS - 1 :: FIELDS] < bounds[1 : runs + 1])
        if not inside.all():
            return None, none
        used = np.arange(runs)
    else:
        line_a = np.searchsorted(ends, first[::FIELDS])
        line_b = np.searchsorted(ends, first[FIELDS - 1 :: FIELDS])
        if not np.array_equal(line_a, line_b) or (line_a.size > 1 and (np.diff(line_a) <= 0).any()):
            return None, none
        used = line_a
    values = _decimal_values(raw, buf, first, solid)
    del solid
    if values is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(raw, dtype=np.float64, sep=" ")
            except (ValueError, Warning):
                return None, none
    if values.size != FIELDS * used.size:
        return None, none
    return values.reshape(-1, FIELDS), used + 1


#: Longest token the integer path takes: at most 15 digits, so every digit string is an
#: integer below 2**53 and exact in float64.
_DECIMAL_MAX_LEN = 15


def _decimal_values(raw: bytes, buf: np.ndarray, first: np.ndarray, solid: np.ndarray) -> np.ndarray | None:
    """The file's numbers, bit for bit what ``np.fromstring(float64)`` gives, about 3x
    faster: when every token is plain decimal (digits, at most one '.', a leading '-',
    at most 15 characters), the digits with the dots deleted go through numpy's integer
    parser and each is divided by 10**(digits after its dot). Both integers are exact in
    float64 and IEEE division rounds correctly, so the quotient is the double nearest
    the decimal, which is what strtod returns. None (use the float parser) otherwise.
    ``raw`` holds only ``_NUMBER_BYTES`` (``_fast_table`` checked)."""
    # The caller let only number bytes through: three byte searches find the rest.
    if b"e" in raw or b"E" in raw or b"+" in raw:
        return None  # an exponent or a '+': the float parser's business
    # Memory: a process's first touch of a page costs a fault, so what counts is the
    # peak. One byte-sized scratch array serves as the dot mask, the token-end mask and
    # the digit counts in turn, and each array is dropped once it has served.
    scratch = np.equal(buf, ord("."))
    dots = np.flatnonzero(scratch)
    last = scratch  # from here: True at each token's last byte
    last[-1] = solid[-1]
    np.greater(solid[:-1], solid[1:], out=last[:-1])
    ends = np.flatnonzero(last)
    if ends.size != first.size or (ends - first).max(initial=0) >= _DECIMAL_MAX_LEN:
        return None
    negative = None
    if b"-" in raw:
        minus = np.flatnonzero(buf == ord("-"))
        if minus[0] == 0:
            minus = minus[1:]
        if solid[minus - 1].any():
            return None  # a '-' inside a token
        negative = buf[first] == ord("-")
    # Digits after each dot: steps from the dot to its token's last byte (tokens are
    # under 15 bytes, so at most 14 steps, over fewer dots each time). Each dot's count
    # is written at its token's last byte, where the token order reads it back: no
    # search maps dots to tokens.
    dot_end = dots.copy()
    pending = np.arange(dots.size)
    while pending.size:
        pending = pending[~last[dot_end[pending]]]
        dot_end[pending] += 1
    del pending
    if dot_end.size > 1 and (dot_end[1:] == dot_end[:-1]).any():
        return None  # two dots in a token
    fraction = scratch.view(np.uint8)  # the token-end mask has served
    fraction[:] = 0
    np.subtract(dot_end, dots, out=dots)
    fraction[dot_end] = dots
    del dots, dot_end
    scale = _POWERS_OF_TEN[fraction[ends]]
    del scratch, last, fraction, ends
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            digits = np.fromstring(raw.translate(None, b"."), dtype=np.int64, sep=" ")
        except (ValueError, Warning):
            return None
    if digits.size != first.size:  # a token that was only '.'
        return None
    values = np.divide(digits, scale, out=scale)
    if negative is not None:  # the integer parser drops the sign of a zero; '-0.0' is -0.0 for strtod
        values[(digits == 0) & negative] = -0.0
    return values


_POWERS_OF_TEN = 10.0 ** np.arange(_DECIMAL_MAX_LEN + 1)


def _precise_table(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Line by line, to name the first line the fast path could not vouch for."""
    rows: list[list[float]] = []
    line_of: list[int] = []
    for number, line in enumerate(split_lines(text), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != FIELDS:
            raise FormatError(f"expected {FIELDS} fields 'image_id class_id confidence xmin ymin xmax "
                              f"ymax', found {len(tokens)}", line=number)
        values = []
        for token in tokens:
            try:
                if "_" in token or not token.isascii():
                    raise ValueError(token)
                values.append(float(token))
            except ValueError:
                raise FormatError("not a number", line=number, token=token) from None
        rows.append(values)
        line_of.append(number)
    return np.asarray(rows, dtype=np.float64).reshape(-1, FIELDS), np.asarray(line_of, dtype=np.int64)


def _check(table: np.ndarray, line_of: np.ndarray, images: ImageList, classes: int) -> Detections:
    def refuse(bad: np.ndarray, message: str, column: int | None = None) -> None:
        where = np.flatnonzero(bad)
        if where.size:
            first = int(where[0])
            token = None if column is None else repr(float(table[first, column])).removesuffix(".0")
            raise FormatError(message, line=int(line_of[first]), token=token)

    refuse(~np.isfinite(table).all(axis=1), "every field must be a finite number (not NaN or infinity)")
    ids, labels = table[:, 0], table[:, 1]
    refuse((ids != np.floor(ids)) | (ids < 0) | (ids > _MAX_EXACT), "an image id must be an integer", 0)
    rows = images.rows(ids.astype(np.int64))
    refuse(rows < 0, "image id not in the image list", 0)
    refuse((labels != np.floor(labels)) | (labels < 1) | (labels > classes),
           f"class id out of range: ids are 1..{classes}", 1)
    return Detections(rows, labels.astype(np.int64) - 1, np.ascontiguousarray(table[:, 2]),
                      np.ascontiguousarray(table[:, 3:]))


# ---------------------------------------------------------------------------- evaluation


def object_thresholds(coords: np.ndarray) -> np.ndarray:
    """Each object's IoU threshold, ``min(0.5, w*h / ((w+10)*(h+10)))`` with +1 pixel sizes."""
    w = coords[:, 2] - coords[:, 0] + 1
    h = coords[:, 3] - coords[:, 1] + 1
    return np.minimum(IOU_THRESHOLD, (w * h) / ((w + PIXEL_TOLERANCE) * (h + PIXEL_TOLERANCE)))


def _blacklisted(image: np.ndarray, label: np.ndarray, pairs: np.ndarray, n_classes: int) -> np.ndarray:
    if pairs.size == 0:
        return np.zeros(image.shape, dtype=bool)
    return np.isin(image * n_classes + label, pairs[:, 0] * n_classes + pairs[:, 1])


def _stable_argsort(keys: np.ndarray, bound: int) -> np.ndarray:
    """Stable sort order of integer ``keys`` in 0..bound-1: numpy's stable sort is a
    radix sort for 16-bit keys (several times faster than its timsort of int64)."""
    return np.argsort(keys.astype(np.uint16) if bound <= 2**16 else keys, kind="stable")


def ranking(dets: Detections, ignored: np.ndarray, images: ImageList, n_classes: int) -> np.ndarray:
    """The counted detections (indices) in the devkit's ranking: by class, descending
    confidence, then numeric image id (the devkit sorts all detections by image id,
    stably, before ranking them stably), then file order. Three stable sorts from the
    least significant key, each keeping the order before it on ties."""
    order = np.flatnonzero(~ignored)
    id_rank = np.empty(len(images), dtype=np.int64)
    id_rank[np.argsort(images.ids, kind="stable")] = np.arange(len(images))
    order = order[_stable_argsort(id_rank[dets.image[order]], len(images))]
    order = order[np.argsort(-dets.confidence[order], kind="stable")]  # -0.0 ties 0.0, as in MATLAB
    return order[_stable_argsort(dets.label[order], n_classes)]


#: Candidate (detection, object) pairs whose IoU is computed at a time: a file that puts
#: millions of detections on one crowded image costs bounded memory.
PAIR_CHUNK = 2_000_000


def _candidates(boxes: np.ndarray, lo: np.ndarray, per_det: np.ndarray, obj_order: np.ndarray,
                coords: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detection, object, IoU) for every detection and object of its (image, class) whose
    IoU reaches the object's threshold. ``lo``/``per_det``: each detection's run of
    candidate objects in ``obj_order``. Computed in chunks of about ``PAIR_CHUNK`` pairs."""
    thresholds = object_thresholds(coords)
    ends = np.cumsum(per_det)
    cuts = np.searchsorted(ends, np.arange(PAIR_CHUNK, int(ends[-1]), PAIR_CHUNK), side="left")
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for first, last in zip(np.r_[0, cuts], np.r_[cuts, per_det.size], strict=True):
        if last <= first:
            continue
        counts = per_det[first:last]
        total = int(counts.sum())
        if total == 0:
            continue
        pair_det = np.repeat(np.arange(first, last), counts)
        offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_obj = obj_order[np.repeat(lo[first:last], counts) + offset]
        b = boxes[pair_det]
        g = coords[pair_obj]
        # The devkit's arithmetic, in its order: float64 throughout.
        iw = np.minimum(b[:, 2], g[:, 2]) - np.maximum(b[:, 0], g[:, 0]) + 1
        ih = np.minimum(b[:, 3], g[:, 3]) - np.maximum(b[:, 1], g[:, 1]) + 1
        ua = ((b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
              + (g[:, 2] - g[:, 0] + 1) * (g[:, 3] - g[:, 1] + 1) - iw * ih)
        with np.errstate(divide="ignore", invalid="ignore"):
            ov = iw * ih / ua
            ok = (iw > 0) & (ih > 0) & (ov >= thresholds[pair_obj])
        kept.append((pair_det[ok], pair_obj[ok], ov[ok]))
    if not kept:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return (np.concatenate([k[0] for k in kept]), np.concatenate([k[1] for k in kept]),
            np.concatenate([k[2] for k in kept]))


def match(dets: Detections, truth: DetTruth, ranked: np.ndarray) -> np.ndarray:
    """(D,) bool true positives, in file order, by the devkit's greedy matching;
    ``ranked``: the counted detections in ``ranking`` order.

    Matching only couples detections and objects of one (image, class) group. The
    sequential rule is replayed in rounds: in each round, every group's earliest
    detection (in confidence order) that still has an unmatched object within its
    threshold takes its best one. Detections before it in the group have none left,
    so they are false positives, exactly as in the sequential loop. Rounds <= the
    most objects of one class in one image.
    """
    n_classes = len(truth.classes)
    # By (image, class, descending confidence, file order): the ranking (class-major),
    # stably re-sorted by image.
    order = ranked[_stable_argsort(dets.image[ranked], len(truth.images))]
    det_group = dets.image[order] * n_classes + dets.label[order]
    obj_order = np.lexsort((truth.label, truth.image))  # stable: file order within a group
    obj_group = (truth.image * n_classes + truth.label)[obj_order]
    lo = np.searchsorted(obj_group, det_group, side="left")
    hi = np.searchsorted(obj_group, det_group, side="right")
    per_det = hi - lo
    tp_sorted = np.zeros(order.size, dtype=bool)
    if per_det.any():
        pair_det, pair_obj, ov = _candidates(dets.boxes[order], lo, per_det, obj_order, truth.coords)
        # Per detection: highest IoU first, the earlier object on a tie (the devkit's strict >).
        rank_in_group = np.empty(truth.objects, dtype=np.int64)
        rank_in_group[obj_order] = np.arange(truth.objects)
        by = np.lexsort((rank_in_group[pair_obj], -ov, pair_det))
        pair_det, pair_obj = pair_det[by], pair_obj[by]
        pair_group = det_group[pair_det]
        taken = np.zeros(truth.objects, dtype=bool)
        active = np.ones(pair_det.size, dtype=bool)
        while True:
            live = np.flatnonzero(active)
            if live.size == 0:
                break
            g_live = pair_group[live]
            first = live[np.concatenate(([True], g_live[1:] != g_live[:-1]))]
            tp_sorted[pair_det[first]] = True
            taken[pair_obj[first]] = True
            active[live] = ~(taken[pair_obj[live]] | tp_sorted[pair_det[live]])
    tp = np.zeros(len(dets), dtype=bool)
    tp[order] = tp_sorted
    return tp


@dataclass(eq=False)
class _Ranked:
    """Counted detections ranked per class (class-major), for AP and its bootstrap."""

    label: np.ndarray  # (R,) class of each ranked detection
    image: np.ndarray  # (R,) list row
    tp: np.ndarray  # (R,) bool
    bounds: np.ndarray  # (C + 1,) segment starts per class


def _rank(dets: Detections, tp: np.ndarray, order: np.ndarray, n_classes: int) -> _Ranked:
    """The ranked detections (``ranking``'s ``order``) per class, with their matches."""
    label = dets.label[order]
    bounds = np.searchsorted(label, np.arange(n_classes + 1))
    return _Ranked(label, dets.image[order], tp[order], bounds)


def _voc_ap(ctp: np.ndarray, cfp: np.ndarray, positives: float | np.ndarray,
            tp_at: np.ndarray) -> np.ndarray:
    """VOC all-points AP along the last axis, evaluated at true positives only.

    ``ctp``/``cfp``: cumulative (weighted) counts at each true positive of the class
    (shape (..., T); the bootstrap passes one row per replicate, so every running max
    and sum walks contiguous memory). Precision peaks at true positives and recall
    changes only there, so the devkit's sum over recall changes needs nothing else.
    """
    if ctp.shape[-1] == 0:
        return np.zeros(ctp.shape[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = ctp / positives
        precision = ctp / (ctp + cfp)
    best = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    previous = np.concatenate((np.zeros((*recall.shape[:-1], 1)), recall[..., :-1]), axis=-1)
    step = np.where(tp_at, recall - previous, 0.0)
    return (step * np.where(tp_at, best, 0.0)).sum(axis=-1)


def evaluate_detection(dets: Detections, truth: DetTruth, *, bootstrap: int = 1000,
                       seed: int = 0) -> DetectionResult:
    """Mean AP of ``dets`` and a percentile bootstrap interval over images."""
    n_classes, n_images = len(truth.classes), len(truth.images)
    ignored = _blacklisted(dets.image, dets.label, truth.blacklist, n_classes)
    counted = ~_blacklisted(truth.image, truth.label, truth.blacklist, n_classes)
    positives = np.bincount(truth.label[counted], minlength=n_classes).astype(np.int64)
    order = ranking(dets, ignored, truth.images, n_classes)
    tp = match(dets, truth, order)
    ranked = _rank(dets, tp, order, n_classes)
    ap = np.full(n_classes, np.nan)
    for c in range(n_classes):
        lo, hi = ranked.bounds[c], ranked.bounds[c + 1]
        if positives[c] == 0:
            continue
        hits = ranked.tp[lo:hi]
        ctp = np.cumsum(hits)
        where = np.flatnonzero(hits)
        ap[c] = _voc_ap(ctp[where].astype(np.float64), (where + 1 - ctp[where]).astype(np.float64),
                        float(positives[c]), np.ones(where.size, dtype=bool))
    warnings_out = []
    empty = int((positives == 0).sum())
    if empty:
        what = "1 class has" if empty == 1 else f"{empty} classes have"
        warnings_out.append(f"{what} no ground-truth objects; the mean AP leaves them out")
    score = float(np.nanmean(ap)) if empty < n_classes else float("nan")
    replicates = bootstrap
    if bootstrap > 0 and not math.isnan(score):
        terms = _class_terms(ranked, truth, counted, n_images, n_classes)
        # A replicate costs about this many element operations; a huge file gets fewer
        # replicates (never under MIN_REPLICATES) rather than minutes of work.
        work = n_images + sum(t.tp_img.size + t.obj_img.size + t.fp_img.size
                              + int(t.fp_count.size * DENSE_COST) for t in terms if t is not None)
        replicates = max(min(bootstrap, MIN_REPLICATES), min(bootstrap, BOOTSTRAP_BUDGET // max(work, 1)))
        if replicates < bootstrap:
            warnings_out.append(f"the interval uses {replicates} bootstrap replicates, not {bootstrap}, "
                                "to bound the time a file this large may take")
        values = bootstrap_values(terms, n_images, replicates, seed)
        ci = _interval(values, score)
    else:
        ci, values = (score, score), np.zeros(0)
    return DetectionResult(n_images, len(dets), score, ap, ci, positives, tp, ignored, warnings_out,
                           replicates=values)


@dataclass(eq=False)
class _ClassTerms:
    """What one class's AP needs under image weights: its true positives' images, and the
    false positives before each of them as a count matrix (dense, for BLAS) or as
    (image, segment) pairs (sparse), whichever is cheaper."""

    tp_img: np.ndarray  # (T,) image of each true positive, in rank order
    obj_img: np.ndarray  # (U,) images holding counted objects of the class
    obj_count: np.ndarray  # (U,) float32 objects in each
    fp_img: np.ndarray  # dense: (V,) images; sparse: (F,) image of each false positive
    fp_last: np.ndarray | None  # sparse: (T,) last false positive before each TP (-1: none)
    fp_count: np.ndarray  # dense: (T, V) float32 false positives of each image before each TP

    @property
    def width(self) -> int:
        """Columns of the (replicates, width) temporaries this class needs."""
        return max(self.fp_img.size, self.obj_img.size, self.tp_img.size)


def _class_terms(ranked: _Ranked, truth: DetTruth, counted: np.ndarray, n_images: int,
                 n_classes: int) -> list[_ClassTerms | None]:
    """Per class (None for one without counted objects). A false positive belongs to the
    segment of the next true positive of its class: it lowers the precision of that one
    and of every later one. Those after a class's last true positive never matter."""
    tp_idx = np.flatnonzero(ranked.tp)
    tp_class = ranked.label[tp_idx]
    class_tp_start = np.searchsorted(tp_class, np.arange(n_classes + 1))
    ctp_all = np.cumsum(ranked.tp)
    before_class = np.concatenate(([0], ctp_all))[ranked.bounds[:-1]]
    seg = class_tp_start[ranked.label] + (ctp_all - before_class[ranked.label]) - ranked.tp
    relevant = ~ranked.tp & (seg < class_tp_start[ranked.label + 1])
    # Ranked order is class-major, so segments only grow along it: already sorted.
    pair_seg, pair_img = seg[relevant], ranked.image[relevant]
    pair_bounds = np.searchsorted(pair_seg, class_tp_start)
    obj_keys, obj_counts = np.unique(truth.label[counted] * n_images + truth.image[counted],
                                     return_counts=True)
    obj_bounds = np.searchsorted(obj_keys, np.arange(n_classes + 1) * n_images)
    tp_img = ranked.image[tp_idx]
    out: list[_ClassTerms | None] = []
    dense_cells = 0
    for c in range(n_classes):
        if obj_bounds[c + 1] == obj_bounds[c]:
            out.append(None)
            continue
        t0, t1 = class_tp_start[c], class_tp_start[c + 1]
        p0, p1 = pair_bounds[c], pair_bounds[c + 1]
        o_img = obj_keys[obj_bounds[c] : obj_bounds[c + 1]] % n_images
        o_count = obj_counts[obj_bounds[c] : obj_bounds[c + 1]].astype(np.float32)
        seg_c, img_c = pair_seg[p0:p1] - t0, pair_img[p0:p1]
        images_c, inverse = np.unique(img_c, return_inverse=True)
        cells = images_c.size * (t1 - t0)
        if (cells <= DENSE_FACTOR * seg_c.size and dense_cells + cells <= DENSE_CELLS
                and seg_c.size < _FLOAT32_EXACT):
            dense_cells += cells
            # Counts are integers below 2**24: exact in float32, and so is every sum
            # the bootstrap forms from them while it stays below 2**24 (it checks).
            dense = np.bincount(seg_c * images_c.size + inverse, minlength=cells)
            out.append(_ClassTerms(tp_img[t0:t1], o_img, o_count, images_c, None,
                                   np.cumsum(dense.reshape(t1 - t0, images_c.size), axis=0,
                                             dtype=np.float32)))
        else:  # one row per false positive: a gather and a running sum
            last = np.searchsorted(seg_c, np.arange(t1 - t0), side="right") - 1
            out.append(_ClassTerms(tp_img[t0:t1], o_img, o_count, img_c, last, np.zeros(0)))
    return out


def _weighted_ap(terms: _ClassTerms, rows: np.ndarray, wt_int: np.ndarray | None,
                 heaviest: int) -> np.ndarray:
    """(b,) the class's AP under each replicate's image weights; NaN without objects.

    ``rows`` (N, b) float32: image ``i``'s weight in every replicate as one contiguous
    row, so a class's images are gathered a row (a copy of b weights) at a time and its
    sums are float32 matrix products (exact: integers below 2**24; a class whose sums
    could pass that is multiplied in float64). ``wt_int`` (b, N) int32, the same weights
    a replicate per row, for the sparse classes: their large gather of false positives
    is summed in place along the ranking and read back at each true positive. AP itself
    is float64 with one replicate per row, so the running sums along the ranking
    (``cumsum``, the precision envelope) walk contiguous memory."""
    b = rows.shape[1]
    pos = (terms.obj_count @ rows[terms.obj_img]).astype(np.float64)  # (b,)
    ap = np.full(b, np.nan)
    present = pos > 0
    if terms.tp_img.size == 0:
        ap[present] = 0.0
        return ap
    wtp = rows[terms.tp_img].T.astype(np.float64)  # (b, T)
    if terms.fp_last is None:
        counts = terms.fp_count
        if counts.size and float(counts[-1].sum()) * heaviest >= _FLOAT32_EXACT:
            counts = counts.astype(np.float64)
        cfp = (counts @ rows[terms.fp_img].astype(counts.dtype, copy=False)).T.astype(np.float64)
    elif terms.fp_img.size == 0:
        cfp = np.zeros_like(wtp)
    else:
        assert wt_int is not None
        running = np.take(wt_int, terms.fp_img, axis=1)  # (b, F)
        if terms.fp_img.size * heaviest >= 2**31:
            running = running.astype(np.int64)
        np.cumsum(running, axis=1, out=running)
        cfp = np.take(running, np.maximum(terms.fp_last, 0), axis=1).astype(np.float64)
        cfp[:, terms.fp_last < 0] = 0.0
    value = _voc_ap(np.cumsum(wtp, axis=1), cfp, pos[:, None], wtp > 0)
    ap[present] = value[present]
    return ap


def _interval(values: np.ndarray, point: float, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite replicates, placed around ``point``."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    # Resampled mean AP is biased upward (the precision envelope is a running max, and
    # noise raises a max): on det-sample every replicate lies above the devkit's value.
    # The interval is the replicates' spread around their mean, placed around the
    # point estimate, so it describes the sampling uncertainty of the official number.
    shift = point - float(values.mean())
    return (float(low) + shift, float(high) + shift)


def bootstrap_values(terms: list[_ClassTerms | None], n_images: int, bootstrap: int,
                     seed: int) -> np.ndarray:
    """Mean AP of each of ``bootstrap`` image resamples (NaN where a resample loses every
    class).

    A resample is a vector of image weights (how often each image is drawn in N draws
    with replacement); detections and objects count with their image's weight, ranks
    stay as they are (copies of an image sit side by side). Only true positives are
    evaluated (precision peaks and recall changes only there), with the weighted false
    positives before each from per-class count matrices: a replicate costs about (true
        positives + images with false positives per class), not the number of detections.

    Replicate ``i`` draws the same images for every submission with the same ``seed``
    and image count (the draws do not depend on the batch size), so two submissions'
    replicates pair image-wise: the paired bootstrap of ``paired_replicates``."""
    rng = np.random.default_rng(seed)
    used = [t for t in terms if t is not None]
    if not used:
        return np.full(bootstrap, np.nan)
    sparse = any(t.fp_last is not None for t in used)
    widest = max([n_images, *(t.width for t in used)])
    batch = max(1, min(bootstrap, BATCH_CELLS // widest))
    stats = []
    for lo in range(0, bootstrap, batch):
        b = min(batch, bootstrap - lo)
        # Resampled indices counted per image: the multinomial counts, 3x faster to draw.
        picks = rng.integers(0, n_images, (b, n_images)) + np.arange(b)[:, None] * n_images
        w = np.bincount(picks.ravel(), minlength=b * n_images).reshape(b, n_images)
        rows = np.ascontiguousarray(w.T, dtype=np.float32)  # (N, b): an image's weights
        wt_int = w.astype(np.int32) if sparse else None  # (b, N): a replicate's, in one row
        heaviest = int(w.max(initial=0))
        ap = np.stack([_weighted_ap(t, rows, wt_int, heaviest) for t in used], axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample may lose every class
            stats.append(np.nanmean(ap, axis=1))
    return np.concatenate(stats)


def paired_replicates(a: np.ndarray, b: np.ndarray, point: float, *,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean AP of b minus a from their paired bootstrap replicates
    (``DetectionResult.replicates`` of the same seed), centred on the point difference as
    ``evaluate_detection``'s interval is; (nan, nan) when nothing pairs."""
    n = min(a.size, b.size)  # a very large file may have been given fewer replicates
    return _interval(b[:n] - a[:n], point, level)
