"""The console script's entry point, `chaos-eval` and `python -m chaos_eval`.

Deliberately light: Ctrl-C while the heavy modules (typer, rich, pydantic, the harness) are
still being imported, or while typer parses the arguments, ends as every interrupt does:
one line and exit 130 (chaos_eval.outcomes.ExitCode.INTERRUPTED), never a traceback.
Inside a command the error boundary (eval/cli/boundary.py) does the same.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # chaos_eval.outcomes.ExitCode.INTERRUPTED, without importing it first


def main() -> None:
    try:
        from chaos_eval.cli.app import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(INTERRUPTED) from None
