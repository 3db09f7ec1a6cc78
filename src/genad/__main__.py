"""``python -m genad`` runs the ``genad`` command."""

import sys

from genad.cli import main

sys.exit(main())
