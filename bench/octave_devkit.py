"""Running the official devkit's MATLAB evaluation under GNU Octave, for the benches.

The devkit's code is never part of this repository: ``$ILSVRC_DEVKIT_EVAL`` names a
folder holding it (see ``shared_files.devkit_dir``). What this module writes is only
glue, in a temporary folder:

- two shims, ``make_hash.m`` and ``get_class2node.m``: the devkit keys its wnid ->
  class table on ``java.util.Hashtable``, and Octave without a JVM has no Java, so a
  ``containers.Map`` stands in (the same mapping; put first on the path);
- the script that calls the devkit function and prints its result with ``%.12f``.

Every run is a whole ``octave-cli`` process, timed like the scorer's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

_MAKE_HASH = """function dict = make_hash(synsets)
% Bench shim: containers.Map in place of the devkit's java.util.Hashtable (no JVM here).
dict = containers.Map();
for i = 1:numel(synsets)
    dict(synsets(i).WNID) = i;
end
"""
_GET_CLASS2NODE = """function c = get_class2node(hash, wnid)
% Bench shim for the containers.Map of make_hash.m.
c = hash(wnid);
"""


def octave() -> str | None:
    return shutil.which("octave-cli") or shutil.which("octave")


class Devkit:
    """The devkit's evaluation folder plus the shims, in ``work`` (a temporary folder)."""

    def __init__(self, folder: Path, work: Path) -> None:
        self.folder = folder
        self.work = work
        self.shims = work / "octave-shims"
        self.shims.mkdir(parents=True, exist_ok=True)
        (self.shims / "make_hash.m").write_text(_MAKE_HASH)
        (self.shims / "get_class2node.m").write_text(_GET_CLASS2NODE)
        self._scripts = 0

    def has(self, function: str) -> bool:
        return (self.folder / f"{function}.m").is_file()

    def script(self, body: str) -> list[str]:
        """argv of an octave-cli process running ``body`` with the devkit and the shims
        on the path (warnings off: Octave 7 warns on every XML element the devkit's
        2008 parser reads, and printing them would be charged to the devkit)."""
        exe = octave()
        assert exe is not None
        self._scripts += 1
        path = self.work / f"bench_{self._scripts}.m"
        path.write_text("warning('off', 'all');\n"
                        f"addpath('{self.folder}');\naddpath('{self.shims}');\n{body}\n")
        return [exe, "--quiet", "--no-init-file", "--no-gui", str(path)]

    # ------------------------------------------------------------------ classification

    def flat_error(self, predictions: Path, truth: Path) -> tuple[list[str], str]:
        """(argv, what) of the devkit's flat top-5 error. The 2012 devkit's ``eval_flat.m``
        reads label lines; when the folder has only ``eval_clsloc.m`` (zhoubolei/CAM),
        its classification part (called with one output it loads no boxes) reads
        ``label xmin ymin xmax ymax`` groups, so it gets a copy of the label file with
        four zero coordinates after every label, written here once (untimed)."""
        if self.has("eval_flat"):
            return (self.script(f"e = eval_flat('{predictions}', '{truth}', 5);\n"
                                "printf('ERROR %.12f\\n', e);"), "eval_flat.m")
        padded = self.work / "classification-as-clsloc.txt"
        if not padded.exists():
            lines = predictions.read_text().split("\n")
            padded.write_text("\n".join(" ".join(f"{label} 0 0 0 0" for label in line.split())
                                        for line in lines))
        return (self.script(f"e = eval_clsloc('{padded}', '{truth}', '', '', 5);\n"
                            "printf('ERROR %.12f\\n', e);"),
                "eval_clsloc.m, classification part (labels padded to 5 fields per guess)")

    # ------------------------------------------------------------------ detection

    def detection(self, predictions: Path, xml_dir: Path, meta: Path, images: Path,
                  blacklist: Path | None, cache: Path | None) -> list[str]:
        """argv of ``eval_detection.m``; prints ``MEANAP`` (NaN classes left out, as
        the scorer does; det-sample has none). ``cache``: the devkit's own ground-truth
        cache file (written on the first run, read on later ones)."""
        bl = f"'{blacklist}'" if blacklist else "''"
        ch = f"'{cache}'" if cache else "''"
        return self.script(f"ap = eval_detection('{predictions}', '{xml_dir}', '{meta}', '{images}', "
                           f"{bl}, {ch});\nprintf('MEANAP %.12f\\n', mean(ap(~isnan(ap))));")


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of one process; its stderr's tail on failure."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env or os.environ.copy())
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{Path(argv[0]).name} failed: "
                           f"{(done.stderr or done.stdout).decode(errors='replace')[-800:]}")
    return wall, done.stdout.decode(errors="replace")


def value(output: str, key: str) -> float:
    """The number printed after ``key`` by a bench script."""
    found = re.search(rf"^{key} (\S+)$", output, re.M)
    if found is None:
        raise RuntimeError(f"no {key} in the Octave output: {output[-500:]}")
    return float(found.group(1))
