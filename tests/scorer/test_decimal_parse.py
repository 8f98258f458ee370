"""The integer path of the detection parser gives numpy's float64 parse bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from scorer import detection


def _fast(raw: bytes) -> np.ndarray | None:
    buf = np.frombuffer(raw, dtype=np.uint8)
    solid = buf > ord(" ")
    starts = np.concatenate(([solid[0]], solid[1:] > solid[:-1]))
    return detection._decimal_values(raw, buf, np.flatnonzero(starts), solid)


def test_random_decimals_are_bit_identical_to_the_float_parser() -> None:
    rng = np.random.default_rng(7)
    tokens = []
    for _ in range(200_000):
        whole = str(rng.integers(0, 10 ** rng.integers(1, 8)))
        frac = "".join(map(str, rng.integers(0, 10, rng.integers(0, 7))))
        sign = "-" if rng.random() < 0.2 else ""
        form = rng.integers(0, 4)
        token = {0: whole, 1: f"{whole}.{frac}", 2: f".{frac or '0'}", 3: f"{whole}."}[int(form)]
        tokens.append(sign + token)
    tokens += ["-0.0", "-0", "0.000", "00012.50", "-.5", "5.", "999999999999999", "0.1", "0.3"]
    raw = ("\n".join(" ".join(tokens[i : i + 7]) for i in range(0, len(tokens), 7)) + "\n").encode()
    fast, slow = _fast(raw), np.fromstring(raw, dtype=np.float64, sep=" ")
    assert fast is not None
    assert fast.size == slow.size
    assert np.array_equal(fast.view(np.int64), slow.view(np.int64))  # signs of zero too


@pytest.mark.parametrize("raw", [b"1e5 2\n", b"+1 2\n", b"1.2.3 4\n", b"1 . 2\n", b"5- 1\n", b"1 - 2\n",
                                 b"1234567890123456 1\n", b"-- 1\n"])
def test_anything_but_plain_decimals_is_left_to_the_float_parser(raw: bytes) -> None:
    assert _fast(raw) is None


def test_a_file_with_a_bad_token_is_still_refused_with_its_line() -> None:
    images = detection.ImageList(("a", "b"), np.array([1, 2]))
    good = "1 1 0.5 1.0 2.0 30.5 40\n"
    with pytest.raises(detection.FormatError) as err:
        detection.parse_detections((good + "2 1 0.5 1.0 -. 3 4\n").encode(), images=images, classes=3)
    assert err.value.line == 2
    dets = detection.parse_detections((good + "2 1 -0.0 .5 -1.25 3. 4\n").encode(), images=images, classes=3)
    assert dets.confidence.tolist() == [0.5, -0.0] and np.signbit(dets.confidence[1])
    assert dets.boxes[1].tolist() == [0.5, -1.25, 3.0, 4.0]
