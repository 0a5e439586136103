"""`python -m netstack.fuzz HARNESS ...`: see runner.py."""

import sys

from netstack.fuzz.runner import main

sys.exit(main())
