"""``python -m pipelines.cli`` runs the ``whoknows`` command."""

from pipelines.cli import main

main()
