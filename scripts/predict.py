"""Forecast with a registered model: `python scripts/predict.py model.version=2`.

More: `model.alias=champion vis=true`, `input=csv input.path=prices.csv input.value_column=Close`,
`input.values=[101.2,101.9,...]`, `mode=backtest input=test_split vis=true`. Options and their
meaning: configs/predict.yaml and configs/input/. Outputs land in the Hydra run directory.
"""

import hydra
from omegaconf import DictConfig

from stockcast.cli import user_errors_exit
from stockcast.config import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="predict")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    # Imported here so `--help` and config errors answer before torch and MLflow load.
    from stockcast.prediction.task import run_predict

    run_predict(cfg)


if __name__ == "__main__":
    main()
