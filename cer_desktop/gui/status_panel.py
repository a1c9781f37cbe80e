"""The status bar: recording indicator, frame rates, recognizer and its latency, drops."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar


class StatusPanel:
    """Permanent labels in the status bar, refreshed from session snapshots."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.rec_label = QLabel("")
        self.rec_label.setObjectName("recordingIndicator")
        self.rec_label.setStyleSheet("color: #e02020; font-weight: bold")
        self.fps_label = QLabel("capture — fps · display — fps")
        self.recognizer_label = QLabel("")
        self.dropped_label = QLabel("dropped 0")
        for w in (self.rec_label, self.fps_label, self.recognizer_label, self.dropped_label):
            bar.addPermanentWidget(w)

    def refresh(self, stats: Any, recognizer: str, recording: Any) -> None:
        """`stats`: the session's `PipelineStats` (None when stopped); `recording`: the
        session's `SessionRecording`."""
        if stats is None:
            self.fps_label.setText("stopped")
            self.recognizer_label.setText(f"recognizer {recognizer}")
        else:
            self.fps_label.setText(
                f"capture {stats.capture_fps:4.1f} fps · display {stats.display_fps:4.1f} fps"
            )
            self.recognizer_label.setText(
                f"recognizer {stats.recognizer} {stats.recognizer_latency_ms:.0f} ms"
            )
            self.dropped_label.setText(
                f"dropped {stats.dropped_total + recording.frames_dropped}"
                f" · recognizer skipped {stats.recognizer_replaced}"
            )
        if recording.active:
            elapsed = int(recording.elapsed_s)
            self.rec_label.setText(f"● REC {elapsed // 60:02d}:{elapsed % 60:02d}")
        else:
            self.rec_label.setText("")
