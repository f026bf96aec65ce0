import sys

from feratt.cli import main

sys.exit(main())
