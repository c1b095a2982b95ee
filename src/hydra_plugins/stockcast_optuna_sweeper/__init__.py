"""An Optuna sweeper for Hydra (`hydra/sweeper=optuna`), built on Optuna's ask/tell interface.

Used by `python src/train.py -m hparams_search=mlp_optuna`. Importing this package registers the
config; optuna itself is imported only when a sweep runs.
"""
