"""Qt-free frame sources: camera, video file, image folder and the built-in demo."""
