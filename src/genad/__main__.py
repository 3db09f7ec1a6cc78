"""``python -m genad`` runs the ``genad`` command."""

import sys

from genad._cli import main

sys.exit(main())
