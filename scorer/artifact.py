"""Parsed class lists and ground truth as compact binary artifacts (``.npz`` bytes).

Parsing a 50,000-image ground truth with its 80,000 boxes takes most of a second
in Python; loading the same arrays from an artifact takes milliseconds. An
artifact is plain numpy arrays in an uncompressed ``np.savez`` archive, read with
``allow_pickle=False`` (no object arrays, so loading never runs code), and carries
its format version and the key it was built for (the checksums of the files it
was parsed from, chosen by the caller). ``unpack_*`` checks both, and every shape,
dtype and range the scorer relies on: a damaged, truncated or mismatched
artifact raises ``ArtifactError`` and is never trusted.

Integers are stored in the smallest dtype that holds them and box coordinates
as float32 when that is exact, then widened on load, so the round trip is exact.
"""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from scorer.classes import ClassList
from scorer.hierarchy import Hierarchy
from scorer.truth import GroundTruth

if TYPE_CHECKING:
    from scorer.detection import DetClasses, DetTruth, ImageList

#: Bumped whenever the layout below changes; artifacts of another version are rebuilt.
FORMAT_VERSION = 1


class ArtifactError(ValueError):
    """The bytes are not an artifact of this format for this key (rebuild it)."""


def _narrow(values: np.ndarray) -> np.ndarray:
    """The same integers in the smallest signed dtype that holds them."""
    if values.size == 0:
        return values.astype(np.int16)
    low, high = int(values.min()), int(values.max())
    for dtype in (np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values.astype(np.int64)


def _coords(values: np.ndarray) -> np.ndarray:
    narrow = values.astype(np.float32)
    return narrow if np.array_equal(narrow.astype(np.float64), values) else values


def _texts(values: tuple[str, ...]) -> np.ndarray:
    # UTF-8 joined by NUL: a quarter of numpy's fixed-width UCS-4 strings.
    return np.frombuffer("\0".join(values).encode(), dtype=np.uint8)


def _untexts(values: np.ndarray) -> tuple[str, ...]:
    try:
        return tuple(values.tobytes().decode().split("\0"))
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"artifact text is not UTF-8: {exc}") from None


def _save(kind: str, key: str, arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array([FORMAT_VERSION], dtype=np.int64), kind=np.array(kind),
             key=np.array(key), **arrays)
    return buffer.getvalue()


def _load(data: bytes, kind: str, key: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ArtifactError(f"not a readable artifact: {exc}") from None
    try:
        version = int(arrays["format"].reshape(-1)[0])
        found_kind, found_key = str(arrays["kind"]), str(arrays["key"])
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ArtifactError(f"artifact header unreadable: {exc}") from None
    if version != FORMAT_VERSION:
        raise ArtifactError(f"artifact format {version}, expected {FORMAT_VERSION}")
    if found_kind != kind or found_key != key:
        raise ArtifactError(f"artifact is for {found_kind} {found_key!r}, expected {kind} {key!r}")
    return arrays


def _get(arrays: dict[str, np.ndarray], name: str, kind: str, ndim: int) -> np.ndarray:
    value = arrays.get(name)
    if value is None:
        raise ArtifactError(f"artifact lacks {name!r}")
    if value.dtype.kind != kind or value.ndim != ndim:
        raise ArtifactError(f"artifact {name!r} is {value.dtype}/{value.ndim}d")
    return value


def pack_ground_truth(truth: GroundTruth, key: str) -> bytes:
    """The artifact of a parsed ground truth, for ``key``."""
    return _save("truth", key, {
        "images": np.array([truth.images], dtype=np.int64),
        "labels": _narrow(truth.labels),
        "box_image": _narrow(truth.box_image),
        "box_label": _narrow(truth.box_label),
        "box_coords": _coords(truth.box_coords),
        "blacklist": np.flatnonzero(truth.blacklist).astype(np.int32),
    })


def unpack_ground_truth(data: bytes, key: str, classes: int) -> GroundTruth:
    """The ground truth in ``data`` (built for ``key`` over ``classes`` classes), exactly as
    parsed; ``ArtifactError`` if anything does not fit."""
    arrays = _load(data, "truth", key)
    images = int(_get(arrays, "images", "i", 1)[0])
    labels = _get(arrays, "labels", "i", 1).astype(np.int64)
    box_image = _get(arrays, "box_image", "i", 1).astype(np.int64)
    box_label = _get(arrays, "box_label", "i", 1).astype(np.int64)
    box_coords = _get(arrays, "box_coords", "f", 2).astype(np.float64)
    black = _get(arrays, "blacklist", "i", 1)
    boxes = box_image.size
    if labels.size != images or images <= 0:
        raise ArtifactError(f"artifact has {labels.size} labels for {images} images")
    if box_label.size != boxes or box_coords.shape != (boxes, 4):
        raise ArtifactError("artifact box arrays disagree in length")
    for name, values, bound in (("labels", labels, classes), ("box_label", box_label, classes),
                                ("box_image", box_image, images), ("blacklist", black, images)):
        if values.size and (int(values.min()) < 0 or int(values.max()) >= bound):
            raise ArtifactError(f"artifact {name} out of range 0..{bound - 1}")
    if boxes and np.any(np.diff(box_image) < 0):
        raise ArtifactError("artifact boxes are not sorted by image")
    blacklist = np.zeros(images, dtype=bool)
    blacklist[black] = True
    return GroundTruth(images, labels, box_image, box_label, box_coords, blacklist)


def pack_classes(classes: ClassList, key: str) -> bytes:
    """The artifact of a parsed class list (wnids, names, a given cost matrix, the hierarchy;
    a cost matrix built from the hierarchy is not stored: it is rebuilt when needed)."""
    arrays: dict[str, Any] = {"wnids": _texts(classes.wnids), "names": _texts(classes.names)}
    if classes.costs is not None:
        arrays["costs"] = np.asarray(classes.costs)
    if classes.hierarchy is not None:
        children = classes.hierarchy.children
        arrays["child_counts"] = np.array([len(c) for c in children], dtype=np.int32)
        arrays["child_nodes"] = np.array([n for c in children for n in c], dtype=np.int32)
        arrays["heights"] = np.asarray(classes.hierarchy.heights)
    return _save("classes", key, arrays)


def unpack_classes(data: bytes, key: str) -> ClassList:
    """The class list in ``data`` (built for ``key``); ``ArtifactError`` if anything does not fit."""
    arrays = _load(data, "classes", key)
    wnids = _untexts(_get(arrays, "wnids", "u", 1))
    names = _untexts(_get(arrays, "names", "u", 1))
    if not wnids or len(names) != len(wnids):
        raise ArtifactError("artifact class names and wnids disagree")
    costs = arrays.get("costs")
    if costs is not None and costs.shape != (len(wnids), len(wnids)):
        raise ArtifactError(f"artifact cost matrix is {costs.shape}")
    hierarchy = None
    if "child_counts" in arrays:
        counts = _get(arrays, "child_counts", "i", 1)
        nodes = _get(arrays, "child_nodes", "i", 1)
        heights = _get(arrays, "heights", "i", 1)
        if int(counts.sum()) != nodes.size or heights.size != counts.size or counts.size < len(wnids):
            raise ArtifactError("artifact hierarchy arrays disagree")
        if nodes.size and (int(nodes.min()) < 0 or int(nodes.max()) >= counts.size):
            raise ArtifactError("artifact hierarchy names a node that does not exist")
        ends = np.cumsum(counts).tolist()
        flat = nodes.tolist()
        children = tuple(tuple(flat[end - n:end]) for n, end in zip(counts.tolist(), ends, strict=True))
        hierarchy = Hierarchy(children, heights)
    try:
        return ClassList(wnids, names, costs, hierarchy)
    except ValueError as exc:  # FormatError: a wnid twice
        raise ArtifactError(f"artifact class list is invalid: {exc}") from None


def pack_det_truth(truth: DetTruth, key: str) -> bytes:
    """The artifact of a parsed detection ground truth (objects and blacklist pairs), for
    ``key``; the image list and class list are not stored: the caller reads them (a few
    milliseconds) and names their checksums in the key."""
    return _save("det-truth", key, {
        "images": np.array([len(truth.images)], dtype=np.int64),
        "classes": np.array([len(truth.classes)], dtype=np.int64),
        "image": _narrow(truth.image),
        "label": _narrow(truth.label),
        "coords": _coords(truth.coords),
        "blacklist": _narrow(truth.blacklist.reshape(-1)),
    })


def unpack_det_truth(data: bytes, key: str, images: ImageList, classes: DetClasses) -> DetTruth:
    """The detection ground truth in ``data`` (built for ``key``) over these lists, exactly as
    parsed; ``ArtifactError`` if anything does not fit."""
    from scorer.detection import DetTruth  # detection runs only: the others start without it

    arrays = _load(data, "det-truth", key)
    counts = (int(_get(arrays, "images", "i", 1)[0]), int(_get(arrays, "classes", "i", 1)[0]))
    if counts != (len(images), len(classes)):
        raise ArtifactError(f"artifact is for {counts[0]} images and {counts[1]} classes, "
                            f"not {len(images)} and {len(classes)}")
    image = _get(arrays, "image", "i", 1).astype(np.int64)
    label = _get(arrays, "label", "i", 1).astype(np.int64)
    coords = _get(arrays, "coords", "f", 2).astype(np.float64)
    pairs = _get(arrays, "blacklist", "i", 1).astype(np.int64)
    if label.size != image.size or coords.shape != (image.size, 4) or pairs.size % 2:
        raise ArtifactError("artifact object arrays disagree in length")
    pairs = pairs.reshape(-1, 2)
    for name, values, bound in (("image", image, len(images)), ("label", label, len(classes)),
                                ("blacklist image", pairs[:, 0], len(images)),
                                ("blacklist class", pairs[:, 1], len(classes))):
        if values.size and (int(values.min()) < 0 or int(values.max()) >= bound):
            raise ArtifactError(f"artifact {name} out of range 0..{bound - 1}")
    if image.size and np.any(np.diff(image) < 0):
        raise ArtifactError("artifact objects are not sorted by image")
    if not np.isfinite(coords).all():
        raise ArtifactError("artifact box coordinates are not finite")
    return DetTruth(images, classes, image, label, coords, pairs)
