"""The edge: the `roz` command (`main`), a module per command group, and `roz demo`."""
