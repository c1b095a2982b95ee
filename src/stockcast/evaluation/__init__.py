"""Judging models: evaluate's report and gate on the test split, the champion comparison, live
scores of matured forecasts, per-series scores and the plots."""
