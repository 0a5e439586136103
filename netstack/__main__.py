"""`python -m netstack` is the `netstack` command."""

import sys

from netstack.cli import main

sys.exit(main())
