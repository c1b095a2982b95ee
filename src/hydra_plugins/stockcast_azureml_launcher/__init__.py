"""A Hydra launcher that runs each multirun job as an Azure ML command job (`hydra/launcher=azureml`).

Importing this package only registers the config; azure-ai-ml is imported when a sweep launches.
"""
