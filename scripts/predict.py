"""Forecast with a registered model: `python scripts/predict.py model.version=2`.

More: `model.alias=champion vis=true`, `input=csv input.path=prices.csv input.value_column=Close`,
`input.values=[101.2,101.9,...]`, `mode=backtest input=test_split vis=true`. Options and their
meaning: configs/predict.yaml and configs/input/. Outputs land in the Hydra run directory.
"""

import sys
from typing import Any

from stockcast.config.task import hydra_task
from stockcast.prediction.long_values import long_values_warning


def predict(cfg: Any) -> None:
    # Imported here so `--help` and config errors answer before torch and MLflow load.
    from stockcast.prediction.task import run_predict

    run_predict(cfg)


main = hydra_task(predict, "predict", timed=False)

if __name__ == "__main__":
    # Said before Hydra spends minutes reading a long list.
    warning = long_values_warning(sys.argv[1:])
    if warning is not None:
        print(warning, file=sys.stderr)
    main()
