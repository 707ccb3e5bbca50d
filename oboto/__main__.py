import sys

from oboto.cli import main

sys.exit(main())
