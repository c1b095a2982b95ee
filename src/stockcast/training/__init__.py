"""Fitting a model: build, fit with Lightning, weigh the members, decide the naive fallback and
calibrate the bands on validation, export the model folder; warm start, resume and refit."""
