"""Benchmark scripts (`./dev bench`); importable so tests can check their checks."""
