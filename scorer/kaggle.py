"""Kaggle's ``ImageId,PredictionString`` CSV layout, shared by submissions and solutions.

An image's index is the trailing integer of its ImageId (``ILSVRC2012_val_00000001``
is image 1), so rows may come in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from scorer.errors import FormatError
from scorer.sources import split_lines

HEADER = "ImageId,PredictionString"
_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class Row:
    image: int  # 0-based
    line: int  # 1-based line in the file
    rest: str  # the PredictionString, unsplit

    @cached_property
    def tokens(self) -> list[str]:
        # Split on demand: a list of token strings takes about twice the line's bytes,
        # so a parser that needs one row at a time splits ``rest`` itself.
        return self.rest.split()


def read_rows(text: str, images: int | None) -> list[Row]:
    """Rows sorted by image; every image 1..N exactly once (N = ``images`` or the largest id)."""
    lines = split_lines(text)
    header = lines[0].strip().replace(" ", "") if lines else ""
    if header.lower() != HEADER.lower():
        found = lines[0][:60] if lines else ""
        raise FormatError(f"wrong CSV header: expected '{HEADER}'", line=1, token=found)
    rows: list[Row] = []
    seen: dict[int, int] = {}
    example = ""
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        image_id, comma, rest = line.partition(",")
        image_id = image_id.strip()
        if not comma:
            raise FormatError("expected 'ImageId,PredictionString' (no comma on this line)", line=number,
                              token=line.strip())
        match = _TRAILING_NUMBER.search(image_id)
        if match is None:
            raise FormatError("an ImageId must end with the image's number", line=number, token=image_id)
        index = int(match.group(1))
        if index < 1 or (images is not None and index > images):
            limit = f"1..{images}" if images is not None else "1 or more"
            raise FormatError(f"ImageId number out of range: expected {limit}", line=number, token=image_id)
        if index in seen:
            raise FormatError(f"duplicate ImageId (first on line {seen[index]})", line=number,
                              token=image_id)
        seen[index] = number
        example = example or image_id
        rows.append(Row(index - 1, number, rest))
    if not rows:
        raise FormatError("the CSV has a header but no rows")
    total = images if images is not None else max(seen)
    if len(rows) != total:
        missing = next(i for i in range(1, total + 1) if i not in seen)
        raise FormatError(
            f"expected {total} rows (one per image), found {len(rows)}; "
            f"missing ImageId {_like(example, missing)!r} (image {missing})"
        )
    rows.sort(key=lambda r: r.image)
    return rows


def _like(example: str, index: int) -> str:
    """The ImageId of image ``index`` written like ``example`` (same prefix and width)."""
    match = _TRAILING_NUMBER.search(example)
    if match is None:
        return str(index)
    digits = match.group(1)
    return f"{example[: match.start()]}{index:0{len(digits)}d}"
