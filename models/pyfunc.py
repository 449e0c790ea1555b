"""The recommender as an MLflow pyfunc model.

A thin wrapper: ``load_context`` loads the Recommender from the index
directory packaged with the model (and the encoder folder, when it is not the
bundled default); ``predict`` asks it each query::

    import mlflow
    model = mlflow.pyfunc.load_model("models:/whoknows@champion")
    model.predict(["how do I stake ADA?"], params={"limit_people": 3})

The model is logged from code (models/pyfunc_model.py), so nothing is pickled.
"""

from __future__ import annotations

from typing import Any

from models.packaging import ENCODER_ARTIFACT, INDEX_ARTIFACT, PARAMS, quiet_mlflow
from models.recommender import Recommender
from models.results import Filters

# MLflow warns about its own classes at import, and asks for type hints on
# predict() when the class is defined: whoknows logs an explicit signature
# instead (type hints would replace it and drop its parameters: limits, filters).
with quiet_mlflow():
    from mlflow.pyfunc.model import PythonModel

    class WhoknowsModel(PythonModel):
        """Recommends resources and people for each query of a list."""

        def __init__(self) -> None:
            self.recommender: Recommender | None = None

        def load_context(self, context: Any) -> None:
            """Load the packaged index (and encoder) once, when the model is loaded."""
            self.recommender = Recommender.load(
                context.artifacts[INDEX_ARTIFACT],
                model_path=context.artifacts.get(ENCODER_ARTIFACT),
            )

        # No type hints on purpose (see above).
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            """One answer per query: its resources and people, as plain data."""
            if self.recommender is None:
                self.load_context(context)
            assert self.recommender is not None
            options = {**PARAMS, **(params or {})}
            filters = Filters(tuple(options["departments"]), tuple(options["types"]))
            return [
                self.recommender.recommend(
                    str(query),
                    limit_resources=int(options["limit_resources"]),
                    limit_people=int(options["limit_people"]),
                    filters=filters,
                ).to_dict()
                for query in _queries(model_input)
            ]


def _queries(model_input: Any) -> list[Any]:
    """The queries of a list, a pandas column or a one-column frame."""
    if hasattr(model_input, "columns"):  # a DataFrame from the scoring server
        return list(model_input.iloc[:, 0])
    if hasattr(model_input, "tolist"):
        values: list[Any] = model_input.tolist()
        return values
    return list(model_input)
