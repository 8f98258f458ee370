"""Standing up a year from an ILSVRC development kit: ``challenge import-devkit``.

The devkit (the official ``.tar.gz`` or its unpacked folder) holds the class list
(``data/meta.mat``, ``data/meta_clsloc.mat`` from 2013), the validation ground truth
(``data/ILSVRC<year>_validation_ground_truth.txt``, ``..._clsloc_...`` from 2013),
from 2013 the CLS-LOC blacklist, and the demo submissions (``demo.val.pred.txt``,
``demo.val.pred.det.txt``), which become the public sample files. Boxes are not in
the devkit: they come separately as the validation XML folder or tarball, or
Kaggle's ``LOC_val_solution.csv``; so do the 2012 ReaL labels (``real.json``, for the
classification track).

A DET devkit (2013-2017: ``data/det_lists/val.txt``, ``data/meta_det.mat``, the
``..._det_validation_blacklist.txt``) becomes a detection year: one ``detection`` track
scored by mean AP, its objects from ``--boxes`` (the validation XML folder or tarball),
stored in the compact CSV ``image_id,wnid,xmin,ymin,xmax,ymax``.

The importer writes no rows itself: it stages the files in a temporary folder,
describes the challenge as a bundle manifest and hands it to ``bundles.read_manifest``
and ``bundles.save_bundle``, so a devkit goes through the same checks and the same
writer as any bundle (and a bad one changes nothing).
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import scorer
from challenge.bundles import BundleError, read_manifest, save_bundle
from challenge.models import Challenge, User
from scorer import detection

#: Classification is always imported; these name the tracks.
TRACK_TITLES = {
    "classification": "Classification",
    "hierarchical": "Classification, hierarchical cost",
    "localization": "Classification with localization",
    "detection": "Object detection",
}
TRACK_SLUGS = {"classification": "cls", "hierarchical": "hier", "localization": "loc", "detection": "det"}
#: A DET devkit's image list and class list (2013-2017).
DET_LIST, DET_CLASSES = "val.txt", "meta_det.mat"
CLASS_FILES = ("meta_clsloc.mat", "meta.mat")  # 2013+ devkits split CLS-LOC from DET
CLS_SAMPLE, LOC_SAMPLE = "demo.val.pred.txt", "demo.val.pred.det.txt"


class DevkitError(Exception):
    """A devkit that cannot be imported; the message names the file or option."""


@dataclass(frozen=True)
class ImportOptions:
    year: int
    slug: str | None = None
    title: str | None = None
    boxes: Path | None = None  # XML folder or tarball, or a Kaggle solution CSV
    blacklist: Path | None = None  # overrides the devkit's own
    real: Path | None = None  # ReaL labels (real.json) for the classification track
    opens: datetime | None = None  # default: now
    closes: datetime | None = None  # default: a year after opens
    quota: str = "5/day"
    leaderboard: str = "public"
    hierarchical: bool | None = None  # None: when meta.mat carries a cost_matrix (2010)


@dataclass
class ImportResult:
    challenge: Challenge
    used: list[str] = field(default_factory=list)  # "what: where", for the organizer
    skipped: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading the kit


class _Kit:
    """The files of a devkit folder or archive, by base name (only regular files)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._members: dict[str, list[str]] = {}
        self._archive: tarfile.TarFile | None = None
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    self._members.setdefault(file.name, []).append(file.relative_to(path).as_posix())
        elif path.is_file():
            try:
                self._archive = tarfile.open(path, "r:*")
            except (tarfile.TarError, OSError):
                raise DevkitError(f"{path} is neither a folder nor a .tar/.tar.gz devkit archive") from None
            for member in self._archive.getmembers():
                if member.isfile():
                    self._members.setdefault(Path(member.name).name, []).append(member.name)
        else:
            raise DevkitError(f"no devkit at {path} (expected the devkit folder or its .tar.gz)")

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def find(self, *names: str) -> str | None:
        """The first of ``names`` present; among copies, the one in ``data/`` or nearest the top."""
        for name in names:
            found = self._members.get(name)
            if found:
                return min(found, key=lambda m: ("/data/" not in f"/{m}", m.count("/"), m))
        return None

    def copies(self, name: str) -> list[str]:
        """Every member called ``name``, wherever it sits."""
        return list(self._members.get(name, []))

    def like(self, pattern: re.Pattern[str]) -> list[str]:
        return sorted(name for name in self._members if pattern.search(name))

    def stage(self, member: str, folder: Path) -> str:
        """Put ``member`` into the staging folder; returns its name there."""
        name = Path(member).name
        target = folder / name
        if self._archive is None:
            target.symlink_to((self.path / member).resolve())
        else:
            handle = self._archive.extractfile(member)
            assert handle is not None  # only regular files are listed
            target.write_bytes(handle.read())
        return name


def _where(kit: _Kit, member: str) -> str:
    return f"{member} in {kit.path}"


def _has_cost_matrix(meta: bytes) -> bool:
    # Imported here: scipy is large, and only importing a devkit needs it, so web and
    # worker processes (and every work horse they fork) do without it.
    import scipy.io

    try:
        return any(name == "cost_matrix" for name, _shape, _kind in scipy.io.whosmat(io.BytesIO(meta)))
    except Exception:  # scipy raises many types for a damaged file; the reader reports it
        return False


def _boxes_csv(classes: scorer.ClassList, labels: bytes, boxes: Path, year: int) -> bytes:
    """XML annotations (folder or tarball) as Kaggle's solution CSV, read by ``scorer/``.

    Stored as CSV: a tenth of the size of 50,000 XML files in a tar, and the same
    boxes (the bundle reader checks them again against the labels)."""
    try:
        truth = scorer.load_ground_truth(classes, labels=labels, boxes=boxes)
    except scorer.FormatError as exc:
        raise DevkitError(f"--boxes {boxes}: {exc}") from None
    rows = ["ImageId,PredictionString"]
    starts = np.searchsorted(truth.box_image, np.arange(truth.images + 1))
    for image in range(truth.images):
        groups = []
        for b in range(starts[image], starts[image + 1]):
            coords = " ".join(_number(v) for v in truth.box_coords[b])
            groups.append(f"{classes.wnids[truth.box_label[b]]} {coords}")
        rows.append(f"ILSVRC{year}_val_{image + 1:08d},{' '.join(groups)}")
    return ("\n".join(rows) + "\n").encode()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ---------------------------------------------------------------- the manifest


def _when(value: datetime | None, default: datetime, option: str) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise DevkitError(f"{option}: {value.isoformat()} has no time zone; write it with Z")
    return value.astimezone(UTC)


def _det_list(kit: _Kit) -> str | None:
    """``data/det_lists/val.txt`` of a DET devkit (not any other val.txt)."""
    return next((m for m in kit.copies(DET_LIST) if "det_lists/" in m), None)


def _det_manifest(kit: _Kit, options: ImportOptions, staging: Path, used: list[str],
                  skipped: list[str], val_list: str) -> dict[str, Any]:
    """A DET devkit's year: one detection track on the validation image list."""
    year = options.year
    meta = kit.find(DET_CLASSES)
    if meta is None:
        raise DevkitError(f"{kit.path}: a DET devkit needs data/{DET_CLASSES} (the 200 classes)")
    if options.boxes is None:
        raise DevkitError("--boxes: a DET devkit has no objects; give the validation XML folder "
                          "or tarball (ILSVRC<year>_DET_bbox_val)")
    if options.hierarchical:
        raise DevkitError("--hierarchical applies to classification devkits, not DET")
    classes_name, list_name = kit.stage(meta, staging), kit.stage(val_list, staging)
    used += [f"classes: {_where(kit, meta)}", f"image list: {_where(kit, val_list)}"]
    try:
        classes = detection.load_det_classes((staging / classes_name).read_bytes())
        images = detection.load_image_list((staging / list_name).read_bytes())
        if not options.boxes.exists():
            raise DevkitError(f"--boxes {options.boxes}: not found (expected an XML folder or tarball)")
        boxes = options.boxes if options.boxes.is_dir() else options.boxes.read_bytes()
        truth = detection.load_det_truth(images, classes, boxes)
    except scorer.FormatError as exc:
        raise DevkitError(f"{kit.path}: {exc}") from None
    boxes_name = f"ILSVRC{year}_det_val_objects.csv"
    rows = [detection.COMPACT_HEADER]
    for image, label, coords in zip(truth.image, truth.label, truth.coords, strict=True):
        rows.append(f"{images.ids[image]},{classes.wnids[label]},{','.join(_number(v) for v in coords)}")
    (staging / boxes_name).write_text("\n".join(rows) + "\n")
    used.append(f"boxes: {options.boxes} ({truth.objects} objects)")
    phase: dict[str, Any] = {"slug": "val", "title": "Validation", "labels": list_name,
                             "boxes": boxes_name, "quota": options.quota,
                             "leaderboard": options.leaderboard}
    blacklist = options.blacklist
    if blacklist is not None:
        if not blacklist.is_file():
            raise DevkitError(f"--blacklist {blacklist}: file not found")
        phase["blacklist"] = "blacklist." + blacklist.name
        (staging / phase["blacklist"]).symlink_to(blacklist.resolve())
        used.append(f"blacklist: {blacklist}")
    else:
        found = kit.find(f"ILSVRC{year}_det_validation_blacklist.txt")
        if found is not None:
            phase["blacklist"] = kit.stage(found, staging)
            used.append(f"blacklist: {_where(kit, found)}")
    now = datetime.now(UTC).replace(microsecond=0)
    phase["opens"] = _when(options.opens, now, "--opens")
    phase["closes"] = _when(options.closes, phase["opens"] + timedelta(days=365), "--closes")
    return {
        "slug": options.slug or f"ilsvrc{year}-det",
        "year": year,
        "title": options.title or f"ILSVRC {year} detection",
        "description": f"ImageNet Large Scale Visual Recognition Challenge {year}, object detection: "
                       "validation set from the development kit.",
        "classes": classes_name,
        "tracks": [{"slug": TRACK_SLUGS["detection"], "title": TRACK_TITLES["detection"],
                    "task": "detection", "phases": [phase]}],
    }


def _manifest(kit: _Kit, options: ImportOptions, staging: Path,
              used: list[str], skipped: list[str]) -> dict[str, Any]:
    year = options.year
    val_list = _det_list(kit)
    if val_list is not None and kit.find(*CLASS_FILES) is None:
        return _det_manifest(kit, options, staging, used, skipped, val_list)
    meta = kit.find(*CLASS_FILES)
    if meta is None:
        raise DevkitError(f"{kit.path}: no class list: expected data/meta.mat (data/meta_clsloc.mat "
                          "from 2013) in the devkit")
    label_names = (f"ILSVRC{year}_clsloc_validation_ground_truth.txt",
                   f"ILSVRC{year}_validation_ground_truth.txt")
    labels = kit.find(*label_names)
    if labels is None:
        others = kit.like(re.compile(r"validation_ground_truth\.txt$"))
        hint = f" (found {', '.join(others)}: is --year {year} right?)" if others else ""
        raise DevkitError(f"{kit.path}: no validation ground truth: expected data/{label_names[1]} "
                          f"(data/{label_names[0]} from 2013) in the devkit{hint}")
    classes_name = kit.stage(meta, staging)
    labels_name = kit.stage(labels, staging)
    used += [f"classes: {_where(kit, meta)}", f"labels: {_where(kit, labels)}"]
    meta_bytes = (staging / classes_name).read_bytes()

    hierarchical = options.hierarchical
    if hierarchical is None:
        hierarchical = _has_cost_matrix(meta_bytes)

    boxes_name = None
    if options.boxes is not None:
        boxes_name = _stage_boxes(options.boxes, meta_bytes, (staging / labels_name).read_bytes(),
                                  year, staging)
        used.append(f"boxes: {options.boxes}")

    blacklist_name = None
    if options.blacklist is not None:
        if not options.blacklist.is_file():
            raise DevkitError(f"--blacklist {options.blacklist}: file not found")
        if boxes_name is None:
            raise DevkitError("--blacklist applies to localization only; give the boxes too (--boxes)")
        blacklist_name = "blacklist." + options.blacklist.name
        (staging / blacklist_name).symlink_to(options.blacklist.resolve())
        used.append(f"blacklist: {options.blacklist}")
    else:
        found = kit.find(f"ILSVRC{year}_clsloc_validation_blacklist.txt",
                         f"ILSVRC{year}_validation_blacklist.txt")
        if found is not None and boxes_name is not None:
            blacklist_name = kit.stage(found, staging)
            used.append(f"blacklist: {_where(kit, found)}")
        elif found is not None:
            skipped.append(f"blacklist {_where(kit, found)}: localization only, and no boxes were given")

    real_name = None
    if options.real is not None:
        if not options.real.is_file():
            raise DevkitError(f"--real {options.real}: file not found")
        real_name = "real." + options.real.name
        (staging / real_name).symlink_to(options.real.resolve())
        used.append(f"ReaL labels: {options.real}")

    samples: dict[str, str] = {}
    for task, name in (("classification", CLS_SAMPLE), ("localization", LOC_SAMPLE)):
        member = kit.find(name)
        if member is not None and (task == "classification" or boxes_name is not None):
            samples[task] = kit.stage(member, staging)
            used.append(f"{task} sample: {_where(kit, member)}")

    now = datetime.now(UTC).replace(microsecond=0)
    opens = _when(options.opens, now, "--opens")
    closes = _when(options.closes, opens + timedelta(days=365), "--closes")

    def track(task: str, **files: str | None) -> dict[str, Any]:
        phase: dict[str, Any] = {
            "slug": "val", "title": "Validation", "labels": labels_name,
            "opens": opens, "closes": closes, "quota": options.quota, "leaderboard": options.leaderboard,
        }
        phase.update({key: name for key, name in files.items() if name is not None})
        return {"slug": TRACK_SLUGS[task], "title": TRACK_TITLES[task], "task": task, "guesses": 5,
                "phases": [phase]}

    tracks = [track("classification", sample=samples.get("classification"), real=real_name)]
    if hierarchical:
        tracks.append(track("hierarchical", sample=samples.get("classification")))
    if boxes_name is not None:
        tracks.append(track("localization", boxes=boxes_name, blacklist=blacklist_name,
                            sample=samples.get("localization")))
    return {
        "slug": options.slug or f"ilsvrc{year}",
        "year": year,
        "title": options.title or f"ILSVRC {year}",
        "description": f"ImageNet Large Scale Visual Recognition Challenge {year}: validation set "
                       "from the development kit.",
        "classes": classes_name,
        "tracks": tracks,
    }


def _stage_boxes(path: Path, meta: bytes, labels: bytes, year: int, staging: Path) -> str:
    if not path.exists():
        raise DevkitError(f"--boxes {path}: not found (expected an XML folder or tarball, "
                          "or a Kaggle LOC_val_solution.csv)")
    if path.is_dir() or tarfile.is_tarfile(path):
        try:
            classes = scorer.load_classes(meta)
        except scorer.FormatError as exc:
            raise DevkitError(f"class list: {exc}") from None
        name = f"ILSVRC{year}_val_boxes.csv"
        (staging / name).write_bytes(_boxes_csv(classes, labels, path, year))
        return name
    # A solution CSV (possibly gzipped) is stored as given; the bundle reader checks it.
    name = "boxes." + path.name
    (staging / name).symlink_to(path.resolve())
    return name


def import_devkit(path: str | Path, options: ImportOptions, actor: User | None = None) -> ImportResult:
    """Create (or, for an existing slug, update) the challenge of a devkit, in one transaction
    with its audit entry. Raises ``DevkitError`` naming the missing or bad piece."""
    source = Path(path)
    used: list[str] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="devkit-") as folder:
        staging = Path(folder)
        kit = _Kit(source)
        try:
            manifest = _manifest(kit, options, staging, used, skipped)
        finally:
            kit.close()
        try:
            spec = read_manifest(manifest, staging)
        except BundleError as exc:
            raise DevkitError(f"{source}: {exc}") from None
        challenge = save_bundle(spec, actor=actor, action="challenge.import_devkit",
                                note=f"devkit {source.resolve()}; " + "; ".join(used))
    return ImportResult(challenge=challenge, used=used, skipped=skipped)

