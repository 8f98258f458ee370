"""``python -m challenge``: the ``challenge`` command without the console script
(``challenge run`` starts its workers this way, with the same interpreter)."""

from challenge.cli import main

main()
