"""The file MLflow logs as the model's code ("models from code": no pickle)."""

import mlflow

from models.pyfunc import WhoknowsModel

mlflow.models.set_model(WhoknowsModel())
