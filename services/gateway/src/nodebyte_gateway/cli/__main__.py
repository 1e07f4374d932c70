"""`python -m nodebyte_gateway.cli`: the `nodebyte` command."""

from nodebyte_gateway.cli import main

main()
