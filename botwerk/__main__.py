"""``python -m botwerk``: the ``botwerk`` command."""

from botwerk.cli import main

main()
