"""`python -m labs ...` is `netstack lab ...`."""

import sys

from labs.cli import main

if __name__ == "__main__":
    sys.exit(main())
