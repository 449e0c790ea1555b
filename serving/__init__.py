"""whoknows HTTP service: FastAPI routes around models.recommender.Recommender."""
