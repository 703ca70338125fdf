"""Benchmark scripts: throughput against peer packages, and the leaderboard (DESIGN 5).

A package so that ``python -m benchmarks.leaderboard`` and ``from benchmarks.scores
import iqm`` work from the repository root.
"""
