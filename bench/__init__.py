"""Benchmarks of signed-mirror against devpi-server, proxpi and nginx (see README.md)."""
