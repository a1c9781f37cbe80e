"""The Qt-free live and offline pipeline: capture -> faces -> recognizer -> smoothing -> paint."""
