"""`python -m debugger` runs the segdbg command line."""

from debugger.cli import main

main()
