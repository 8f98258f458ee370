"""scorer.matfile reads the devkits' .mat files exactly as scipy.io.loadmat(squeeze_me=True,
struct_as_record=True) does, leaves everything else to scipy, and spares a run scipy's import."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import scipy.sparse

import scorer
from scorer import matfile
from scorer.errors import FormatError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "ilsvrc"
REAL_FILES = [SHARED / "2012" / "meta.mat", SHARED / "2010" / "meta.mat",
              SHARED / "det-sample" / "meta_det.mat"]


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal values, types and dtypes, all the way down."""
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray), (path, type(a))
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        if b.dtype.names:
            for f in b.dtype.names:
                for i in range(b.size):
                    same(a.reshape(-1)[i][f], b.reshape(-1)[i][f], f"{path}/{f}[{i}]")
        elif b.dtype == object:
            for i in range(b.size):
                same(a.reshape(-1)[i], b.reshape(-1)[i], f"{path}[{i}]")
        else:
            assert np.array_equal(a, b), path
    else:
        assert type(a) is type(b) and a == b, (path, a, b)


def reference(data: bytes) -> dict[str, Any]:
    found = scipy.io.loadmat(io.BytesIO(data), squeeze_me=True, struct_as_record=True)
    return {k: v for k, v in found.items() if not k.startswith("__")}


def check(data: bytes) -> None:
    mine = matfile.loadmat(data)
    expected = reference(data)
    assert sorted(mine) == sorted(expected)
    for name in expected:
        same(mine[name], expected[name], name)


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.parent.name)
def test_the_devkit_files_read_as_scipy_reads_them(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path} (the shared ILSVRC files) is absent")
    check(path.read_bytes())


def saved(variables: dict[str, Any], compress: bool) -> bytes:
    out = io.BytesIO()
    scipy.io.savemat(out, variables, do_compression=compress)
    return out.getvalue()


def synsets() -> np.ndarray:
    table = np.empty(4, dtype=[("ID", object), ("WNID", object), ("words", object),
                               ("children", object), ("height", object), ("cells", object)])
    rows = [(1, "n00000001", "café, ünïcode ☃", np.array([], dtype=np.uint8), 0.5, ["a", 2]),
            (2, "n00000002", "x", np.array([3, 4], dtype=np.int16), -2.25, []),
            (3, "n00000003", "a longer description, with commas", np.uint16(7), 1e300, [np.eye(2)]),
            (70000, "n00000004", "z", np.arange(6.0).reshape(2, 3), np.float32(0.1), ["n", "mm"])]
    for i, row in enumerate(rows):
        for field, value in zip(table.dtype.names, row, strict=True):
            cell = np.empty(len(value), dtype=object) if isinstance(value, list) else value
            if isinstance(value, list):
                for j, v in enumerate(value):
                    cell[j] = v
            table[i][field] = cell
    return table


@pytest.mark.parametrize("compress", [True, False])
def test_struct_arrays_numbers_strings_cells(compress: bool) -> None:
    check(saved({"synsets": synsets(), "cost_matrix": np.arange(12, dtype=np.uint8).reshape(3, 4),
                 "one": 5, "big": np.arange(10, dtype=np.int64) * 2**40, "f": np.float32(3.5),
                 "column": np.arange(3.0)[:, None], "single": synsets()[:1]}, compress))


@pytest.mark.parametrize("value", [scipy.sparse.eye(3, format="csc"), np.array([1 + 2j]),
                                   np.array([True, False]), np.array(["ab", "cd"])],
                         ids=["sparse", "complex", "logical", "char-matrix"])
def test_other_contents_go_to_scipy(value: Any) -> None:
    data = saved({"v": value}, True)
    with pytest.raises(matfile.Unsupported):
        matfile.loadmat(data)
    got = matfile.read_mat(data, "x.mat")["v"]
    same(got.toarray() if scipy.sparse.issparse(got) else got,
         reference(data)["v"].toarray() if scipy.sparse.issparse(value) else reference(data)["v"])


def test_a_damaged_file_is_a_format_error() -> None:
    data = saved({"synsets": synsets()}, True)
    for broken in (data[:200], data[:128] + b"\x0f\x00\x00\x00\xff\xff\x00\x00garbage"):
        with pytest.raises(matfile.Unsupported):
            matfile.loadmat(broken)
        with pytest.raises(FormatError, match="x.mat could not be read"):
            matfile.read_mat(broken, "x.mat")


def test_loading_a_meta_mat_does_not_import_scipy(tmp_path: Path) -> None:
    table = np.empty(2, dtype=[("ILSVRC2012_ID", object), ("WNID", object), ("words", object),
                               ("num_children", object), ("children", object)])
    table[0] = (1, "n00000001", "one", 0, np.array([], dtype=np.uint8))
    table[1] = (2, "n00000002", "two", 0, np.array([], dtype=np.uint8))
    (tmp_path / "meta.mat").write_bytes(saved({"synsets": table}, True))
    code = ("import sys, scorer; c = scorer.load_classes(sys.argv[1]); "
            "assert c.wnids == ('n00000001', 'n00000002'), c.wnids; "
            "assert 'scipy' not in sys.modules, 'scipy was imported'")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "meta.mat")], check=True)
    assert scorer.load_classes(tmp_path / "meta.mat").names == ("one", "two")
