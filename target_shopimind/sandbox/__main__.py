"""`python -m target_shopimind.sandbox`: the same as `shopimind-sandbox`."""

import sys

from target_shopimind.sandbox.cli import main

sys.exit(main())
