"""`python -m rvbbit_assets.cli`: the same as `rvbbit-analytics`."""

import sys

from rvbbit_assets.cli.commands import main

sys.exit(main())
