"""`make bench`: every benchmark of the project, one call each."""

from __future__ import annotations

import scorer_bench

if __name__ == "__main__":
    scorer_bench.main()
