"""wskit's benchmarks: one module per question, run them all with ``python -m benchmarks``."""
