"""stockcast: forecast a price series with a small MLP, locally and on Azure ML.

Importing the package is cheap on purpose: nothing here pulls in Lightning, MLflow or Azure.
"""

__version__ = "0.1.0"
