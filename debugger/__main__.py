"""`python -m debugger` runs the segdbg command line."""

from debugger.cli import main

if __name__ == "__main__":  # not when a child process (replay's planner) imports it
    main()
