"""`python -m chaos_eval` runs the same typer app as the `chaos-eval` script."""

from chaos_eval.cli.entry import main

main()
