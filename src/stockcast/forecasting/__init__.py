"""The forecasting core: window sizes and rolling origins, baselines, errors and interval scores,
conformal bands, member combination, the served frame's columns, and the input and output
guards every forecast passes.

NumPy only (pandas for the frame), so training metrics, evaluation, prediction's backtest,
monitoring, the benchmarks and the served model (this package ships inside every model folder)
share one implementation of each fact without importing torch.
"""
