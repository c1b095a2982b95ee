"""Using a trained model: the MLflow pyfunc model that predict, `mlflow models serve` and Azure
endpoints load, safe loading of its folder, `open_model` / `OpenModel.forecast`, and the verified
scoring server."""
