"""Stdlib programs copied into helper containers (never imported by the harness)."""
