"""The router model as MLflow logs and loads it (a model from code): this file is copied into the
model and run at load time, so no pickled object is stored; the class is r2_pipeline's own."""

from mlflow.models import set_model

from r2_pipeline.serving.model import RouterModel

set_model(RouterModel())
