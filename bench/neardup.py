"""Kept so that ``python bench/neardup.py`` still works: the bench is the package
``bench/neardup/`` (``python -m bench.neardup`` from the repository root; see
bench/README.md). Python imports the package, not this file, as ``bench.neardup``.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.neardup.cli import main

    sys.exit(main())
