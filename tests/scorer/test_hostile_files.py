"""Bounded memory and time for any submission: gzip bombs, enormous lines, endless blank
lines and padded guesses are refused at their first bad line, in a child process whose
peak memory (VmHWM) is measured around the parse."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest
from scorer_helpers import WNIDS, make_classes

import scorer
from scorer.predictions import BLANK_TAIL, line_bytes
from scorer.sources import CHUNK, read_bytes

MB = 1024**2
#: Most a hostile file may add to the parsing process's peak memory.
MAX_GROWTH = 200 * MB

#: Parses argv's file as the platform would (1,000 classes) and prints the outcome
#: with the growth of the process's peak resident memory during the parse.
CHILD = r"""
import json, sys, time
import scorer

def peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

path, task, guesses, images, wnids = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ids = tuple(f"n{i:08d}" if wnids == "1" else str(i) for i in range(1, 1001))
classes = scorer.ClassList(ids, ids)
data = open(path, "rb").read()
before, start = peak(), time.perf_counter()
out = {"error": None, "line": None}
try:
    scorer.parse_predictions(data, task=task, guesses=guesses, classes=classes, images=images)
except scorer.FormatError as exc:
    out = {"error": str(exc), "line": exc.line}
out.update(growth=peak() - before, seconds=time.perf_counter() - start, size=len(data))
print(json.dumps(out))
"""


def gzip_stream(path: Path, pieces: Iterable[bytes], level: int = 9) -> Path:
    """Write the gzip of the pieces' concatenation without ever holding it whole."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        for piece in pieces:
            out.write(packer.compress(piece))
        out.write(packer.flush())
    return path


def parse_in_child(path: Path, task: str = "classification", guesses: int = 5,
                   images: int = 50_000, wnids: bool = False) -> dict:
    """The child's outcome; classes are IDs 1..1000, or 1,000 wnids with ``wnids``."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), task, str(guesses), str(images),
                           "1" if wnids else "0"],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def assert_refused_cheaply(outcome: dict, line: int, message: str) -> None:
    assert outcome["line"] == line, outcome
    assert outcome["error"] == f"line {line}: {message}", outcome
    assert outcome["growth"] < MAX_GROWTH, outcome
    assert outcome["seconds"] < 15, outcome


@pytest.mark.slow  # a child process, up to 2 GiB unpacked
def test_gzip_bomb_of_zeros(tmp_path: Path) -> None:
    zeros = bytes(MB)
    bomb = gzip_stream(tmp_path / "zeros.gz", (zeros for _ in range(2048)))  # 2 GiB unpacked
    assert bomb.stat().st_size < 3 * MB
    outcome = parse_in_child(bomb)
    assert_refused_cheaply(outcome, 1, "this is a binary file, expected plain text (a NUL byte was found)")


@pytest.mark.slow  # a child process, up to 2 GiB unpacked
def test_gzip_of_one_enormous_line(tmp_path: Path) -> None:
    def pieces() -> Iterable[bytes]:
        yield b"1 2 3 4 5\n6 7 8 9 10\n"
        for _ in range(1024):  # 1 GiB of "1 " without a line end
            yield b"1 " * (MB // 2)
    outcome = parse_in_child(gzip_stream(tmp_path / "line.gz", pieces()))
    assert_refused_cheaply(outcome, 3, "the line is longer than 256 bytes; expected at most 5 labels")


@pytest.mark.slow  # a child process, up to 2 GiB unpacked
def test_gzip_of_millions_of_blank_lines(tmp_path: Path) -> None:
    outcome = parse_in_child(gzip_stream(tmp_path / "blank.gz", (b"\n" * MB for _ in range(200))))
    assert_refused_cheaply(
        outcome, 50_000 + BLANK_TAIL + 1,
        "too many lines: expected 50,000 lines (one per image) and at most 100 blank lines after them")


@pytest.mark.slow  # a child process, up to 2 GiB unpacked
@pytest.mark.parametrize("task", ["classification", "localization"])
def test_valid_file_padded_with_thousands_of_guesses(tmp_path: Path, task: str) -> None:
    """The platform accepted this (4.5 GB in the web process): every line a valid answer
    followed by 2,140 extra guesses."""
    group = b"1 0 0 9 9 " if task == "localization" else b"1 "
    line = group * 5 + group * 2140 + b"\n"
    outcome = parse_in_child(gzip_stream(tmp_path / "padded.gz", (line for _ in range(50_000))), task)
    assert outcome["size"] < 3 * MB  # 0.4 or 1 GiB unpacked
    shape = "5 groups 'label xmin ymin xmax ymax'" if task == "localization" else "5 labels"
    assert_refused_cheaply(outcome, 1, f"the line is longer than {line_bytes(task, 5):,} bytes; "
                                       f"expected at most {shape}")


def test_line_cap_in_bytes() -> None:
    assert line_bytes("classification", 5) == 32 * 8
    assert line_bytes("localization", 5) == 32 * 36
    assert line_bytes("classification", 1) == 32 * 8  # a top-5 file fits a top-1 track


def _parse(data: bytes, task: str = "classification", images: int | None = 10, guesses: int = 5,
           **kwargs: int) -> scorer.Predictions:
    ids = tuple(str(i) for i in range(1, 11))
    return scorer.parse_predictions(data, task=task, guesses=guesses, classes=scorer.ClassList(ids, ids),
                                    images=images, **kwargs)


def _refusal(data: bytes, **kwargs: object) -> scorer.FormatError:
    with pytest.raises(scorer.FormatError) as info:
        _parse(data, **kwargs)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize("spelling", ["ids", "wnids", "csv"])
def test_too_many_guesses_on_a_short_line(spelling: str) -> None:
    """Under the byte cap, the token cap names the line; up to two spare guesses are
    still ignored with a warning. IDs take the fast path, wnids the precise parser."""
    def row(n: int) -> str:
        return " ".join(WNIDS[i % 10] if spelling == "wnids" else str(i % 10 + 1) for i in range(n))
    lines = [row(5)] * 10
    lines[6] = row(9)
    header = ["ImageId,PredictionString"] if spelling == "csv" else []
    if spelling == "csv":
        lines = [f"img_{i + 1},{line}" for i, line in enumerate(lines)]
    classes = make_classes()

    def parse(rows: list[str]) -> scorer.Predictions:
        return scorer.parse_predictions(("\n".join(header + rows) + "\n").encode(), task="classification",
                                        guesses=5, classes=classes, images=10)

    with pytest.raises(scorer.FormatError) as info:
        parse(lines)
    line = 8 if spelling == "csv" else 7
    assert str(info.value) == f"line {line}: 9 guesses; at most 7 are accepted (the track takes 5)"
    lines[6] = lines[6].rsplit(" ", 2)[0]  # 7 guesses: accepted, the extras ignored
    assert parse(lines).warnings == ["2 guesses beyond the first 5 per image were ignored"]


def test_localization_token_cap_counts_groups() -> None:
    lines = [b"1 0 0 9 9"] * 3 + [b"1 0 0 9 9 " * 8]
    error = _refusal(b"\n".join(lines) + b"\n", task="localization", images=4)
    assert str(error) == "line 4: 8 guesses; at most 7 are accepted (the track takes 5)"


def test_blank_lines_after_the_last_image_up_to_the_allowance() -> None:
    valid = b"1\n" * 10
    assert _parse(valid + b"\n" * BLANK_TAIL).images == 10
    error = _refusal(valid + b"\n" * (BLANK_TAIL + 1))
    assert error.line == 10 + BLANK_TAIL + 1
    csv = b"ImageId,PredictionString\n" + b"".join(b"img_%d,1\n" % i for i in range(1, 11))
    assert _parse(csv + b"\n" * BLANK_TAIL).images == 10
    assert _refusal(csv + b"\n" * (BLANK_TAIL + 1)).line == 1 + 10 + BLANK_TAIL + 1
    # Without a known image count, any number of lines.
    assert _parse(b"1\n" * 5000, images=None).images == 5000


def test_plain_input_is_checked_piece_by_piece() -> None:
    """Not only gzip: a long line straddling a piece boundary, and a NUL, are named by line."""
    short = b"1 2 3\n"
    lines = CHUNK // len(short) + 3  # past the first piece
    data = short * lines + b"1 " * 200 + b"\n" + short
    error = _refusal(data, images=lines + 2)
    assert error.line == lines + 1
    assert error.message == "the line is longer than 256 bytes; expected at most 5 labels"
    nul = _refusal(short * lines + b"1\x00\n", images=lines + 1)
    assert (nul.line, nul.message) == (lines + 1, "this is a binary file, expected plain text (a NUL "
                                                   "byte was found)")


def test_byte_limit_is_a_parameter(tmp_path: Path) -> None:
    valid = b"1 2 3 4 5\n" * 10
    assert _parse(gzip.compress(valid), max_decompressed=100).images == 10
    error = _refusal(gzip.compress(valid), max_decompressed=99)
    assert str(error) == "the file unpacks to more than 99 bytes; the limit is 99 bytes unpacked"
    assert str(_refusal(valid, max_decompressed=99)) == "the file is larger than 99 bytes, the limit"
    path = tmp_path / "sub.txt.gz"
    path.write_bytes(gzip.compress(valid))
    assert _parse(path, max_decompressed=100).images == 10  # type: ignore[arg-type]
    with pytest.raises(scorer.FormatError, match="unpacks to more than 1 MB; the limit is 1 MB"):
        read_bytes(gzip.compress(b"1\n" * MB), max_bytes=MB)


def test_streamed_gunzip_reads_what_gzip_decompress_reads(tmp_path: Path) -> None:
    """Concatenated members (zero padding between them), members larger than a piece,
    and a file on disk; a truncated or corrupt stream is a FormatError."""
    parts = [b"1 2 3\n" * 700_000, b"", b"4 5\n" * 10, bytes(range(256)) * 9000]
    blob = b"".join(gzip.compress(p) + b"\x00" * i for i, p in enumerate(parts))
    assert read_bytes(blob) == gzip.decompress(blob) == b"".join(parts)
    path = tmp_path / "members.gz"
    path.write_bytes(blob)
    assert read_bytes(path) == b"".join(parts)
    for bad in (blob[:-5], blob + b"junk", gzip.compress(b"1\n")[:-8], b"\x1f\x8b"):
        with pytest.raises(scorer.FormatError, match="not a valid gzip stream"):
            read_bytes(bad)


@pytest.mark.slow  # a child process, up to 2 GiB unpacked
@pytest.mark.parametrize("layout", ["devkit", "kaggle"])
def test_the_largest_accepted_file_costs_a_few_times_its_size(tmp_path: Path, layout: str) -> None:
    """Every line at the byte cap, 7 groups with wnids and fractional coordinates (the
    precise parser): accepted, and the parse's peak stays within 6x the unpacked bytes
    (measured: about 2.5x for devkit text, 4.2x for a Kaggle CSV)."""
    images, cap = 20_000, line_bytes("localization", 5)
    groups = " ".join(f"n{i + 1:08d} 123.456789012345 12.3456789012345 456.789012345678 45.6789012345678"
                      for i in range(7))
    header = [b"ImageId,PredictionString\n"] if layout == "kaggle" else []
    rows = [((f"img_{i + 1},{groups}" if layout == "kaggle" else groups).ljust(cap) + "\n").encode()
            for i in range(images)]
    unpacked = sum(map(len, header + rows))
    outcome = parse_in_child(gzip_stream(tmp_path / "big.gz", header + rows, level=1),
                             "localization", images=images, wnids=True)
    assert outcome["error"] is None, outcome
    assert outcome["growth"] < 6 * unpacked, (outcome, unpacked)


@pytest.mark.parametrize("token", ["n1440764", "n001440764", "n01440764x", "xn01440764"])
def test_a_misspelt_wnid_in_a_submission_csv_is_refused_not_read_as_another(token: str) -> None:
    # The fast CSV path reads wnids as numbers: 'n1440764' would have been n01440764.
    from scorer.classes import load_classes

    wnids = ["n01440764", "n01443537", "n01484850"]
    classes = load_classes("".join(f"{w} c{i}\n" for i, w in enumerate(wnids)).encode())
    csv = (f"ImageId,PredictionString\nimg_00000001,{token} 1 1 5 5\n"
           "img_00000002,n01443537 1 1 5 5\n").encode()
    with pytest.raises(scorer.FormatError, match=rf"line 2: not a class: .*\(found '{token}'\)"):
        scorer.parse_predictions(csv, task="localization", guesses=5, classes=classes, images=2)
