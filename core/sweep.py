"""`python -m core.sweep`: a sweep or a lecture's table from the command line (core.cli.sweep)."""
import sys

from core.cli.sweep import main

if __name__ == "__main__":
    sys.exit(main())
