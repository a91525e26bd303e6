"""Benchmarks that print figures (never assert timings): `python -m semdemo.bench NAME [ARGS]`."""
