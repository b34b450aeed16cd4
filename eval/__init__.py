"""chaos-eval: declarative, resumable chaos campaigns against real clusters in Docker."""

__version__ = "0.1.0"
