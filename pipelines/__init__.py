"""whoknows offline pipelines: ingest -> embed -> index -> evaluate.

Each step is a pure ``run()`` function; ``pipelines.cli`` is the thin command line
around them (the ``whoknows`` command).
"""
