"""`make bench`: every benchmark of the project, one call each."""

from __future__ import annotations

import detection_bench
import leaderboard_bench
import scorer_bench
import startup_bench
import submissions_bench
import worker_bench

if __name__ == "__main__":
    scorer_bench.main()
    detection_bench.main()
    startup_bench.main()
    leaderboard_bench.main()
    submissions_bench.main()
    worker_bench.main([])
