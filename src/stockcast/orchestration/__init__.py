"""Running the lifecycle: the step table and its thin step modules, the local runner, replay,
sweeps and the Azure ML builder, all loops over the same table."""
