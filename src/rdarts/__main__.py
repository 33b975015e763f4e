"""`python -m rdarts` is the `rdarts` command."""

import sys

from rdarts.cli.app import main

sys.exit(main())
