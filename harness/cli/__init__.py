"""The command line: one module per command group (views hold no CLI code)."""
