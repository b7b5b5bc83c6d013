"""The router's benchmark: ``python -m router bench`` (see bench/run.py)."""
