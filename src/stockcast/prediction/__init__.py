"""Forecasting with a registered model: `scripts/predict.py`.

Kept free of Lightning and of anything that unpickles: the model is the MLflow pyfunc built from
code whose weights are safetensors, and inputs are plain numbers, CSV files or generated series.
"""
