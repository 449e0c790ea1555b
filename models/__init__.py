"""whoknows models: encoder, passages, vector index, expertise and the recommender.

Pure and importable from a notebook: nothing here reads the environment, starts a
server or parses command lines.
"""
