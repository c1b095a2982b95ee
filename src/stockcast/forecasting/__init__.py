"""The forecasting core: window sizes and rolling origins, baselines, errors and interval scores,
band calibration and bands, member combination, the served frame's columns, and the input and
output guards every forecast passes.

NumPy only (pandas for the frame), so training metrics, evaluation, prediction's backtest,
monitoring, the benchmarks and the served model share one implementation of each fact without
importing torch. The modules the served model imports ship inside every model folder; the
calibration (`conformal`) and the baselines stay with training and evaluation.
"""
