"""``python -m bpftop``."""

import sys

from bpftop.cli import main

sys.exit(main())
