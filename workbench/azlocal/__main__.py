"""`python -m workbench.azlocal`: the `azlocal` command."""

from workbench.azlocal import run

run()
