import sys

try:
    from .cli import main
except KeyboardInterrupt:
    # Ctrl-C while the host's modules are still loading: stop quietly, as later on.
    sys.exit(0)

sys.exit(main())
