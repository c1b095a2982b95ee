"""Series sources cut at as_of, data checks, the chronological split, scaling statistics and the
prepared folder."""
