"""What differs between Linux, Windows and macOS, in one place.

Each function that branches by operating system takes the OS as a parameter (`os_name`,
defaulting to `current_os()`), so tests run every platform's branch on any machine instead of
patching `sys.platform`. Nothing here imports Qt or heavy libraries.
"""
