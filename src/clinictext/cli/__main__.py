"""``python -m clinictext.cli``: the same command line as ``clinictext``."""

import sys

from clinictext.cli import app

sys.exit(app())
