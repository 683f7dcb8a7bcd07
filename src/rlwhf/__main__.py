import sys

from rlwhf.cli.main import main

sys.exit(main())
