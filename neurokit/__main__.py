import sys

from neurokit.cli import main

sys.exit(main())
