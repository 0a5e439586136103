"""`python -m netstack.bench`: the same command as `netstack bench`."""

import sys

from netstack.bench import main

sys.exit(main())
