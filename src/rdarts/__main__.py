"""`python -m rdarts` is the `rdarts` command."""

import sys

from rdarts.cli import main

sys.exit(main())
