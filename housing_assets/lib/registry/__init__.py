"""The MLflow registry: logging models, the champion rule and retention."""
