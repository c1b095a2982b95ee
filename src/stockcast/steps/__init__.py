"""The pipeline steps. Each is a Hydra task (`python -m stockcast.steps.<name>`) that reads and
writes plain folders, so the local runner and Azure ML components run exactly the same code.
`stockcast.steps.table` lists them; importing this package imports no step."""
