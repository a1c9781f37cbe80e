"""Entry script for frozen builds (PyInstaller): starts the desktop window."""

from cer_desktop.gui.app import main

raise SystemExit(main())
