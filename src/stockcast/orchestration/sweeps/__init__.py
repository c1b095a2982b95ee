"""Hyperparameter sweeps: run tags, the sweep summary, the Optuna search space, Azure ML sweep jobs.

The Hydra plugins in `hydra_plugins/` (the Optuna sweeper, the Azure ML launcher) are thin
adapters over these modules; `SweepCallback` (configs/hydra/default.yaml) ties a multirun
together: one prepared MLflow store, sweep tags on every run, a summary at the end.
"""
