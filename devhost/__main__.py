import gc
import sys

# Loading the host's modules makes hundreds of thousands of objects that live as long as
# the process, and next to no garbage, yet the collector scans them again and again while
# they load: a fifth of the import's CPU. It is off while they load; they are then frozen
# (never scanned again, so later full collections are cheaper too) and it runs as usual.
gc.disable()
try:
    from .cli import main
except KeyboardInterrupt:
    # Ctrl-C while the host's modules are still loading: stop quietly, as later on.
    sys.exit(0)
finally:
    gc.freeze()
    gc.enable()

sys.exit(main())
