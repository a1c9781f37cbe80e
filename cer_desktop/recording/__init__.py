"""Recording sessions, headless annotation, recovery and reports."""
