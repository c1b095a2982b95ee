"""The pipeline steps. Each is a Hydra task (`python -m stockcast.orchestration.steps.<name>`) that reads and
writes plain folders, so the local runner and Azure ML components run exactly the same code.
`stockcast.orchestration.steps.table` lists them; importing this package imports no step."""
