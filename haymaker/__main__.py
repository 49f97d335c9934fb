import sys

from haymaker.cli import main

sys.exit(main())
