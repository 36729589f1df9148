"""`python -m workbench.router --config FILE`: the router on its own (router/standalone.py)."""

import sys

from workbench.router.standalone import main

sys.exit(main())
