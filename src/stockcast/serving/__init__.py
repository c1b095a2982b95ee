"""The MLflow pyfunc model that predict, `mlflow models serve` and Azure endpoints load."""
