"""`python -m eval` runs the same typer app as the `eval` and `chaos-eval` scripts."""

from chaos_eval.cli.app import main

main()
