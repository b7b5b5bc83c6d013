"""``python -m router``: hands over to the command line (``router.cli.main``)."""

import sys

from router.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
