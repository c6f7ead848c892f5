"""Benchmarks: ``make bench`` runs ``python -m bench``. Figures, never pass/fail."""
