"""Session folders: their format (`session_folder.py`), the recorder that writes them, their
recovery after a crash and their reports. Below `session`: it never imports it."""
