"""Series sources, chronological splitting, scaling statistics and window batching."""
