"""Benchmarks for autoassign (plain scripts, not collected by pytest).

Run ``make bench`` (full) or ``make bench-quick`` (under a minute); see
``docs/benchmarks.md``.
"""
