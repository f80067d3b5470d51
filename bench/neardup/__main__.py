"""``python -m bench.neardup``: run the bench (see ``--help``)."""

import sys

from bench.neardup.cli import main

sys.exit(main())
