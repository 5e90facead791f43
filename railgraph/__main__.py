"""``python -m railgraph`` runs the command line."""

from railgraph._cli import main

main()
