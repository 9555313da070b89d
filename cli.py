"""creative-optimizer: run the command line as a script (``python cli.py ...``).

The commands live in the ``cli/`` package, which this import finds (a package shadows this
module of the same name); the console script ``creative-optimizer`` points at it too.
"""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
