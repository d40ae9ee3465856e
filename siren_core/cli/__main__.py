"""``python -m siren_core.cli``: the ``siren`` command."""

from siren_core.cli.root import main

main()
