"""r2-pipeline: R2-Reasoner as a Kedro project."""
__version__ = "0.1.0"
