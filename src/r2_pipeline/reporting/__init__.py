"""Reporting a finished evaluation: statistics, plots, MLflow logging and the generated results page."""
