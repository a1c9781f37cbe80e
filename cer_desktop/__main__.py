"""`python -m cer_desktop` runs the command line."""

from cer_desktop.cli import main

raise SystemExit(main())
