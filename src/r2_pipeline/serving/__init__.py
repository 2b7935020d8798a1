"""Serving the trained router: its MLflow model and an OpenAI-compatible HTTP server over it."""
