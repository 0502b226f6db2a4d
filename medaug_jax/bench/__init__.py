"""Benchmarks: step throughput against PyTorch (`python -m medaug_jax.bench`,
throughput.py), per-layer convolutions (`python -m medaug_jax.bench.layers`),
and the PyTorch twins of our models they compare with (torch_twins.py)."""
