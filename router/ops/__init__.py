"""Operators: the admin API, route preview, the console, health and metrics endpoints, the CLI."""
