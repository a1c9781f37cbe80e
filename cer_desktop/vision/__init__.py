"""Face landmarks (MediaPipe), tracking, alignment and quality flags."""
