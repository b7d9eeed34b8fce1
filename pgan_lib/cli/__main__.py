"""``python -m pgan_lib.cli ...`` is the ``pgan`` command."""
import sys

from . import main

sys.exit(main())
