"""`python -m core.train`: one run from the command line (core.cli.train)."""
import sys

from core.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
