"""`python -m kuzet` (how `kuzet up` starts its children): SIGTERM and SIGINT are handled from
before the CLI's imports, so a child stopped while it starts still stops cleanly (exit 0)."""

from kuzet.lifecycle import Stopping, raise_on_signals

try:
    raise_on_signals()  # delivers a stop that arrived while the interpreter started
    from kuzet.cli import main
except Stopping:
    raise SystemExit(0) from None

main()
