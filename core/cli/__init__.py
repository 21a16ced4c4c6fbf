"""Command-line programs (python -m core.train, core.sweep, core.backprop, core.export): flags from the schema, exit 2 on bad input."""
