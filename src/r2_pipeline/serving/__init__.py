"""The trained router for use on new questions: an MLflow pyfunc model (model.py), logged by the
evaluation pipeline and registered per profile, the best version aliased `champion` (registry.py);
`mlflow models serve` answers with it, and openai_server.py serves it as an OpenAI-compatible model."""

from .model import CHAMPION, RouterModel, ServedRouter, registered_name

__all__ = ["CHAMPION", "RouterModel", "ServedRouter", "registered_name"]
