"""One module per built-in model kind, each defining `KIND` (a `stockcast.models.kind.ModelKind`).
`model.kind=<name>` picks `stockcast.models.kinds.<name>`; a dotted name picks any importable
module that defines `KIND`."""
