"""``python -m binderfix``: the same as the ``binderfix`` command."""

from binderfix.cli import main

main()
