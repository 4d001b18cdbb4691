"""The edge: the `roz` command (`main`), `roz demo`, and the synthetic footage the demo, tests and benchmarks use."""
