"""Deployment: the serving model, export formats, generated code, model card, predictions."""
