"""`python -m harness`.

May import: harness.cli.
"""

import sys

from harness.cli import main

sys.exit(main())
