"""Fault implementations, one module per kind."""
