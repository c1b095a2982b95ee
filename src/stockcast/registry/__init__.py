"""The MLflow registry and what lives beside it: versions registered once per model hash with
crash-safe promotion, folder integrity, the store lock, MLflow runs, the forecast ledger,
rollback and the new-data check."""
