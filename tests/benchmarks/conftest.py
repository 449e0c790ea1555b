"""Benchmarks measure; they never assert on time. Run them with `make bench`."""

from __future__ import annotations


def report(name: str, lines: dict[str, object]) -> None:
    """Print a result block that the README's Performance section quotes."""
    print(f"\n== {name}")
    for key, value in lines.items():
        print(f"   {key}: {value}")
