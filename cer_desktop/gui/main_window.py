"""The main window: live view, source / label-set / smoothing / model controls, record, status."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
)

from cer_desktop.capture.base import FrameSource, SourceError
from cer_desktop.contracts import Recognizer, Severity, StatusEvent, StatusKind
from cer_desktop.contracts import status as make_status
from cer_desktop.gui.model_dialog import ModelChoice, ModelDialog, ModelLoader
from cer_desktop.gui.video_view import FrameBridge, VideoView
from cer_desktop.labels import BUILTIN, LabelSetError, get_label_set
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.settings import AppSettings, save_settings

log = logging.getLogger(__name__)

SourceFactory = Callable[[str], FrameSource]
AnalyzerFactory = Callable[[int, int], Any]  # (max_faces, crop_size) -> FaceAnalyzer
NO_CAMERA_MESSAGE = "No camera found — showing the built-in demo"
SOURCE_FILE = "__file__"
SOURCE_FOLDER = "__folder__"


def default_source_factory(spec: str) -> FrameSource:
    """`open_source(spec)` from the capture package (640x480, 30 fps)."""
    from cer_desktop.capture.sources import open_source

    return open_source(spec, width=640, height=480, fps=30.0)


def default_analyzer_factory(max_faces: int, crop_size: int = 224) -> Any:
    from cer_desktop.vision.analyzer import FaceAnalyzer

    return FaceAnalyzer(max_faces=max_faces, crop_size=crop_size)


def instant_recognizer(threshold: float = 0.0) -> Recognizer:
    """The always-available recognizer (no weights)."""
    from cer_desktop.recognition.instant import InstantRecognizer

    return InstantRecognizer(threshold=threshold)


def list_camera_specs() -> list[tuple[str, str]]:
    """(title, spec) for each camera found; empty when there is none (or capture is missing)."""
    try:
        from cer_desktop.capture.sources import list_cameras

        cams = list_cameras()
    except Exception as exc:  # no capture backend: the demo still works
        log.warning("listing cameras failed: %s", exc)
        return []
    out = []
    for cam in cams:
        index = getattr(cam, "index", None)
        name = getattr(cam, "name", "")
        spec = getattr(cam, "spec", None) or f"camera:{index}"
        out.append((f"Camera {index}" + (f": {name}" if name else ""), str(spec)))
    return out


class MainWindow(QMainWindow):
    """The cer-desktop window.

    Factories are injectable so tests can run it on synthetic sources and fake analyzers.
    `recognizer` is the initial recognizer (None = the instant one); the window owns it.
    """

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        source_factory: SourceFactory | None = None,
        analyzer_factory: AnalyzerFactory | None = None,
        recognizer: Recognizer | None = None,
        recognizer_factory: Callable[..., Any] | None = None,
        cameras: list[tuple[str, str]] | None = None,
        persist: bool = True,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("cer-desktop — compound expression recognition")
        self.settings = (settings or AppSettings()).validated()
        self._persist = persist
        self._source_factory = source_factory or default_source_factory
        self._analyzer_factory = analyzer_factory or default_analyzer_factory
        self._recognizer_factory = recognizer_factory
        self.pipeline: Pipeline | None = None
        # stopped pipelines whose recognizer call may still be running (see `stop`)
        self._stopping: list[Pipeline] = []
        self._analyzer: Any = None
        self._recorder: Any = None
        self._loader: ModelLoader | None = None
        self._old_loaders: list[ModelLoader] = []
        self._progress: QProgressDialog | None = None
        self._fallback: Recognizer | None = None
        self._status_message = ""
        self._shut_down = False
        self._recovery_thread: threading.Thread | None = None

        self.bridge = FrameBridge(self)
        self.view = VideoView(self)
        self.view.connect_bridge(self.bridge)
        self.view.on_shown = self._on_frame_shown
        self.bridge.statusChanged.connect(self._on_status, Qt.ConnectionType.QueuedConnection)
        self.setCentralWidget(self.view)

        self._recognizer: Recognizer | None = recognizer
        self._recognizer_desc = "instant"
        if self._recognizer is None:
            self._recognizer = self._make_instant()
        else:
            self._recognizer_desc = getattr(recognizer, "name", "custom")

        self._build_toolbar(cameras)
        self._build_status_bar()
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._on_tick)
        self._timer.start()
        self.resize(980, 700)
        if autostart:
            QTimer.singleShot(0, self.start)

    # -- construction ---------------------------------------------------------------------
    def _build_toolbar(self, cameras: list[tuple[str, str]] | None) -> None:
        tb = QToolBar("Controls", self)
        tb.setObjectName("controls")
        tb.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

        self.source_combo = QComboBox()
        self.source_combo.setObjectName("sourceCombo")
        self.source_combo.setToolTip("Where frames come from")
        cams = list_camera_specs() if cameras is None else cameras
        self._have_camera = bool(cams)
        for title, spec in cams:
            self.source_combo.addItem(title, spec)
        self.source_combo.addItem("Demo (no camera)", "demo")
        for recent in self.settings.recent_files:
            if Path(recent).exists():
                self.source_combo.addItem(Path(recent).name or recent, recent)
        self.source_combo.addItem("Video file…", SOURCE_FILE)
        self.source_combo.addItem("Image folder…", SOURCE_FOLDER)
        spec = self._initial_source_spec()
        self._select_source(spec)
        self.source_combo.activated.connect(self._on_source_activated)
        tb.addWidget(QLabel(" Source "))
        tb.addWidget(self.source_combo)

        self.label_combo = QComboBox()
        self.label_combo.setObjectName("labelSetCombo")
        for name, ls in BUILTIN.items():
            self.label_combo.addItem(ls.title or name, name)
        self._select_label_set(self.settings.label_set)
        self.label_combo.currentIndexChanged.connect(self._on_label_set_changed)
        tb.addWidget(QLabel(" Labels "))
        tb.addWidget(self.label_combo)

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setObjectName("smoothingSlider")
        self.smoothing_slider.setRange(0, 95)
        self.smoothing_slider.setValue(round(self.settings.smoothing * 100))
        self.smoothing_slider.setFixedWidth(110)
        self.smoothing_slider.setToolTip("Smoothing of labels over time (0 = off)")
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_changed)
        tb.addWidget(QLabel(" Smoothing "))
        tb.addWidget(self.smoothing_slider)

        self.max_faces_spin = QSpinBox()
        self.max_faces_spin.setObjectName("maxFacesSpin")
        self.max_faces_spin.setRange(1, 16)
        self.max_faces_spin.setValue(self.settings.max_faces)
        self.max_faces_spin.setToolTip("Most faces analysed per frame (applies on restart)")
        self.max_faces_spin.valueChanged.connect(self._on_max_faces_changed)
        tb.addWidget(QLabel(" Faces "))
        tb.addWidget(self.max_faces_spin)

        self.aus_check = QCheckBox("AUs")
        self.aus_check.setChecked(self.settings.show_aus)
        self.aus_check.toggled.connect(self._on_show_aus)
        tb.addWidget(self.aus_check)

        # Session actions on a second row so nothing hides behind the overflow arrow.
        self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        tb = QToolBar("Session", self)
        tb.setObjectName("session")
        tb.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.start_button.clicked.connect(self._on_start_stop)
        tb.addWidget(self.start_button)

        self.record_action = QAction("● Record", self)
        self.record_action.setObjectName("recordAction")
        self.record_action.setCheckable(True)
        self.record_action.setShortcut(QKeySequence("Ctrl+R"))
        self.record_action.setToolTip("Record the session (Ctrl+R)")
        self.record_action.triggered.connect(self._on_record_toggled)
        tb.addAction(self.record_action)
        self.marker_action = QAction("Marker", self)
        self.marker_action.setShortcut(QKeySequence("Ctrl+M"))
        self.marker_action.setToolTip(
            "Add a marker with an optional note to the recording (Ctrl+M)"
        )
        self.marker_action.setEnabled(False)
        self.marker_action.triggered.connect(self._on_marker)
        tb.addAction(self.marker_action)

        self.raw_action = QAction("Raw video too", self)
        self.raw_action.setCheckable(True)
        self.raw_action.setChecked(self.settings.record_raw)
        self.raw_action.setToolTip(
            "Also record the camera frames without overlays (next recording)"
        )
        self.raw_action.toggled.connect(self._on_record_raw)
        tb.addAction(self.raw_action)

        self.baseline_action = QAction("Reset neutral", self)
        self.baseline_action.setObjectName("resetBaselineAction")
        self.baseline_action.setShortcut(QKeySequence("Ctrl+B"))
        self.baseline_action.setToolTip(
            "Re-learn each face's neutral baseline from the next seconds (instant recognizer, Ctrl+B)"
        )
        self.baseline_action.triggered.connect(self.reset_baseline)
        tb.addAction(self.baseline_action)

        self.model_action = QAction("Model…", self)
        self.model_action.setObjectName("modelAction")
        self.model_action.triggered.connect(self.open_model_dialog)
        tb.addAction(self.model_action)
        self.record_folder_action = QAction("Record folder…", self)
        self.record_folder_action.triggered.connect(self._on_choose_record_folder)
        tb.addAction(self.record_folder_action)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.rec_label = QLabel("")
        self.rec_label.setObjectName("recordingIndicator")
        self.rec_label.setStyleSheet("color: #e02020; font-weight: bold")
        self.fps_label = QLabel("capture — fps · display — fps")
        self.recognizer_label = QLabel("")
        self.dropped_label = QLabel("dropped 0")
        for w in (self.rec_label, self.fps_label, self.recognizer_label, self.dropped_label):
            sb.addPermanentWidget(w)

    def _initial_source_spec(self) -> str:
        spec = self.settings.source or "auto"
        if spec == "auto":
            if self._have_camera:
                preferred = f"camera:{self.settings.camera_index}"
                if self.source_combo.findData(preferred) >= 0:
                    return preferred
                return str(self.source_combo.itemData(0))
            self._status_message = NO_CAMERA_MESSAGE
            return "demo"
        if spec.startswith("camera:") and not self._have_camera:
            self._status_message = f"{NO_CAMERA_MESSAGE} (camera {spec} not found)"
            return "demo"
        return spec

    def _select_source(self, spec: str) -> None:
        i = self.source_combo.findData(spec)
        if i < 0:
            title = Path(spec).name or spec
            self.source_combo.insertItem(self.source_combo.count() - 2, title, spec)
            i = self.source_combo.findData(spec)
        self.source_combo.setCurrentIndex(i)

    def _select_label_set(self, name: str) -> None:
        i = self.label_combo.findData(name)
        if i < 0:
            try:
                ls = get_label_set(name)
            except LabelSetError as exc:
                self.show_message(str(exc))
                ls = get_label_set(AppSettings().label_set)
            self.label_combo.addItem(ls.title or ls.name, ls.name)
            i = self.label_combo.findData(ls.name)
        self.label_combo.setCurrentIndex(i)

    def _make_instant(self) -> Recognizer | None:
        try:
            return instant_recognizer(self.settings.threshold)
        except Exception as exc:
            log.warning("instant recognizer unavailable: %s", exc)
            self.show_message(f"Instant recognizer unavailable: {exc}")
            return None

    # -- public API -----------------------------------------------------------------------
    @property
    def source_spec(self) -> str:
        return str(self.source_combo.currentData())

    @property
    def recognizer(self) -> Recognizer | None:
        return self._recognizer

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def show_message(self, message: str) -> None:
        self._status_message = message
        self.statusBar().showMessage(message)

    def start(self) -> bool:
        """Start the live pipeline on the selected source; False (with a message) on failure."""
        if self._shut_down:
            return False
        self.stop()
        self._finish_stopping()  # the recognizer is not made to serve two calls at once
        spec = self.source_spec
        try:
            source = self._source_factory(spec)
        except (SourceError, OSError, ValueError) as exc:
            self.show_message(f"Cannot open {spec}: {exc}")
            return self._fall_back_to_demo(spec)
        except ImportError as exc:
            self.show_message(f"Frame sources unavailable: {exc}")
            return False
        except Exception as exc:  # whatever a source does, the window keeps running
            log.exception("opening %s failed", spec)
            self.show_message(f"Cannot open {spec}: {type(exc).__name__}: {exc}")
            return self._fall_back_to_demo(spec)
        # The aligned crop must be the size the model was trained on (adapter metadata).
        crop = self._crop_size()
        try:
            if (
                self._analyzer is None
                or getattr(self._analyzer, "max_faces", None) != self.settings.max_faces
                or getattr(self._analyzer, "crop_size", None) != crop
            ):
                self._close_analyzer()
                self._analyzer = self._analyzer_factory(self.settings.max_faces, crop)
            else:
                self._analyzer.reset()
        except Exception as exc:
            self.show_message(f"Face analysis unavailable: {exc}")
            source.close()
            return False
        if self._recognizer is None:
            self.show_message("No recognizer available")
            source.close()
            return False
        label_set = get_label_set(str(self.label_combo.currentData()))
        fallback = None
        if getattr(self._recognizer, "name", "") != "instant":
            fallback = self._get_fallback()
        self.pipeline = Pipeline(
            source,
            self._analyzer,
            self._recognizer,
            label_set,
            smoothing=self.settings.smoothing,
            on_display=self.bridge.deliver,
            on_status=self.bridge.status,
            fallback=fallback,
            show_aus=self.settings.show_aus,
        )
        self.view.on_shown = self._on_frame_shown
        self.pipeline.start()
        self.start_button.setText("Stop")
        if self._status_message:
            self.statusBar().showMessage(self._status_message)
        return True

    def stop(self) -> None:
        """Stop recording and the pipeline. Returns without waiting for a recognizer call in
        progress (an LVLM's takes seconds on a CPU); `_finish_stopping` joins it before the
        recognizer is used again or closed."""
        self._stop_recording()
        p, self.pipeline = self.pipeline, None
        if p is not None:
            p.stop(wait_for_recognizer=False)
            self._stopping.append(p)
        self.start_button.setText("Start")

    def _finish_stopping(self) -> None:
        """Wait for the recognizer calls of stopped pipelines to end."""
        while self._stopping:
            p = self._stopping.pop()
            if not p.wait_for_recognizer(60.0):
                log.warning("a stopped pipeline's recognizer call did not end within 60 s")

    def shutdown(self) -> None:
        """Stop everything and join every thread (QApplication.aboutToQuit). Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self._timer.stop()
        self.stop()
        self._finish_stopping()
        if self._recovery_thread is not None:
            self._recovery_thread.join(60.0)
        for loader in [self._loader, *self._old_loaders]:
            if loader is not None:
                loader.cancel()
                loader.join(30.0)
        self._loader = None
        self._old_loaders.clear()
        if self._progress is not None:
            self._progress.close()
        for r in (self._recognizer, self._fallback):
            if r is not None:
                try:
                    r.close()
                except Exception:
                    log.exception("closing recognizer failed")
        self._recognizer = self._fallback = None
        self._close_analyzer()
        self.save()

    def recover_unfinished_sessions(self) -> None:
        """Repair sessions a crash left unfinished in the record folder, off the GUI thread.

        Remuxing a long session takes seconds; each result reaches the status bar.
        """
        from cer_desktop.recording.recover import find_unfinished, recover_session

        root = self.settings.record_folder
        status = self.bridge.status

        def work() -> None:
            K, S = StatusKind.RECOVERY, Severity
            try:
                folders = find_unfinished(root)
            except OSError as exc:
                msg = f"Could not look for unfinished sessions in {root}: {exc}"
                status(make_status(K, msg, S.WARNING, root=str(root)))
                return
            for folder in folders:
                status(make_status(K, f"Recovering the unfinished session {folder}…"))
                try:
                    report = recover_session(folder)
                except Exception as exc:  # one broken session must not stop the app
                    log.warning("could not recover %s", folder, exc_info=True)
                    msg = f"Could not recover {folder}: {exc}"
                    status(make_status(K, msg, S.ERROR, folder=str(folder)))
                else:
                    status(report.event())

        self._recovery_thread = threading.Thread(target=work, name="session-recovery", daemon=True)
        self._recovery_thread.start()

    def save(self) -> None:
        if self._persist:
            save_settings(self.settings)

    # -- slots ----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    @Slot()
    def _on_start_stop(self) -> None:
        if self.pipeline is not None:
            self.stop()
        else:
            self.start()

    @Slot(int)
    def _on_source_activated(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if data == SOURCE_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open a video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.webm);;All files (*)"
            )
            if not path:
                self._select_source(
                    self.settings.source if self.settings.source not in ("auto", "") else "demo"
                )
                return
            self._select_source(path)
        elif data == SOURCE_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
            if not path:
                self._select_source("demo")
                return
            self._select_source(path)
        if data in (SOURCE_FILE, SOURCE_FOLDER):
            recent = [
                self.source_spec,
                *(r for r in self.settings.recent_files if r != self.source_spec),
            ]
            self.settings.recent_files = recent[:5]
        self.settings.source = self.source_spec
        if self.settings.source.startswith("camera:"):
            try:
                self.settings.camera_index = int(self.settings.source.split(":", 1)[1])
            except ValueError:
                pass
        self._status_message = ""
        self.statusBar().clearMessage()
        self.save()
        self.start()

    @Slot(int)
    def _on_label_set_changed(self, index: int) -> None:
        name = str(self.label_combo.itemData(index))
        try:
            label_set = get_label_set(name)
        except LabelSetError as exc:
            self.show_message(str(exc))
            return
        self.settings.label_set = name
        if self.pipeline is not None:
            self.pipeline.set_label_set(label_set)
        self.save()

    @Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self.settings.smoothing = value / 100.0
        if self.pipeline is not None:
            self.pipeline.set_smoothing(self.settings.smoothing)

    @Slot(int)
    def _on_max_faces_changed(self, value: int) -> None:
        self.settings.max_faces = int(value)
        if self.pipeline is not None:
            self.start()  # the analyzer is rebuilt for the new limit

    @Slot(bool)
    def _on_show_aus(self, on: bool) -> None:
        self.settings.show_aus = bool(on)
        if self.pipeline is not None:
            self.pipeline.show_aus = bool(on)

    def _on_frame_shown(self) -> None:
        if self.pipeline is not None:
            self.pipeline.note_displayed()

    @Slot(object)
    def _on_status(self, event: StatusEvent) -> None:
        message = event.message
        if message:
            self.statusBar().showMessage(message)
        elif self._status_message:
            self.statusBar().showMessage(self._status_message)
        else:
            self.statusBar().clearMessage()

    @Slot()
    def _on_tick(self) -> None:
        p = self.pipeline
        if p is None:
            self.fps_label.setText("stopped")
            self._update_recognizer_label(None)
            return
        s = p.stats
        self.fps_label.setText(
            f"capture {s.capture_fps:4.1f} fps · display {s.display_fps:4.1f} fps"
        )
        self._update_recognizer_label(s)
        rec_drop = 0
        if self._recorder is not None:
            rec_drop = int(getattr(self._recorder, "frames_dropped", 0) or 0)
        self.dropped_label.setText(
            f"dropped {s.dropped_total + rec_drop} · recognizer skipped {s.recognizer_replaced}"
        )
        if self._recorder is not None:
            self._update_record_indicator()
        if not s.running:
            # The loop ended by itself (end of file, camera gone): tidy up, keep the message.
            message = s.last_error or s.message
            spec = self.source_spec
            self.stop()
            source_failed = s.error is not None and s.error.kind is StatusKind.SOURCE_ERROR
            if s.frames_captured == 0 and source_failed and spec.startswith("camera:"):
                # The camera never delivered (no such index, busy device): show the demo.
                self._fall_back_to_demo(spec, reason=s.last_error)
            elif message:
                self.statusBar().showMessage(message)

    def _update_recognizer_label(self, s: Any) -> None:
        name = self._recognizer_desc
        if s is None:
            self.recognizer_label.setText(f"recognizer {name}")
        else:
            self.recognizer_label.setText(
                f"recognizer {s.recognizer} {s.recognizer_latency_ms:.0f} ms"
            )

    # -- recording ------------------------------------------------------------------------
    @Slot(bool)
    def _on_record_toggled(self, checked: bool) -> None:
        if checked:
            if not self.start_recording():
                self.record_action.setChecked(False)
        else:
            self._stop_recording()

    def start_recording(self) -> bool:
        """Add a SessionRecorder sink to the running pipeline; False (with a message) if not."""
        if self._recorder is not None:
            return True
        if self.pipeline is None and not self.start():
            return False
        try:
            from cer_desktop.recording.recorder import SessionRecorder, new_session_folder
        except ImportError as exc:
            self.show_message(f"Recording is not available: {exc}")
            return False
        assert self.pipeline is not None
        folder = new_session_folder(self.settings.record_folder)
        extra = {
            "source": self.source_spec,
            "label_set": self.pipeline.label_set.name,
            "model": self.settings.model_base or "instant",
            "adapter": self.settings.model_adapter or None,
            "quant": self.settings.model_quant,
            "threshold": self.settings.threshold,
            "smoothing": self.settings.smoothing,
        }
        try:
            from cer_desktop.recording.manifest import recognizer_fields

            # What actually runs (a model that failed to load leaves the instant tier).
            extra.update(recognizer_fields(self.pipeline.recognizer, self.pipeline.label_set))
        except ImportError:
            pass
        fps = self.pipeline.source.fps or 30.0
        try:
            rec = SessionRecorder(
                folder,
                record_raw=self.settings.record_raw,
                fps=fps,
                manifest_extra=extra,
                on_error=self.bridge.status,
            )
        except Exception as exc:
            self.show_message(f"Cannot record to {folder}: {exc}")
            QMessageBox.warning(self, "Recording", f"Cannot record to {folder}:\n{exc}")
            return False
        self._recorder = rec
        self._record_t0 = time.monotonic()
        self._record_folder = folder
        self.pipeline.add_sink(rec)
        self.record_action.setChecked(True)
        self.record_action.setText("■ Stop recording")
        self.marker_action.setEnabled(True)
        self._update_record_indicator()
        self.statusBar().showMessage(f"Recording to {folder}")
        return True

    def _stop_recording(self) -> None:
        rec, self._recorder = self._recorder, None
        if rec is None:
            return
        if self.pipeline is not None:
            self.pipeline.remove_sink(rec)
        try:
            rec.close()
        except Exception as exc:
            self.show_message(f"Finishing the recording failed: {exc}")
        else:
            dropped = int(getattr(rec, "frames_dropped", 0) or 0)
            written = int(getattr(rec, "frames_written", 0) or 0)
            self.statusBar().showMessage(
                f"Recorded {written} frames to {self._record_folder}"
                + (f" ({dropped} dropped)" if dropped else "")
            )
        self.record_action.setChecked(False)
        self.record_action.setText("● Record")
        self.marker_action.setEnabled(False)
        self.rec_label.setText("")

    def _update_record_indicator(self) -> None:
        rec = self._recorder
        if rec is None:
            self.rec_label.setText("")
            return
        error = getattr(rec, "error", None)
        if error:
            self.rec_label.setText("REC stopped")
            self.show_message(f"Recording stopped: {error}")
            self._stop_recording()
            return
        elapsed = int(time.monotonic() - self._record_t0)
        self.rec_label.setText(f"● REC {elapsed // 60:02d}:{elapsed % 60:02d}")

    @Slot()
    def _on_marker(self) -> None:
        rec = self._recorder
        if rec is None:
            return
        note, ok = QInputDialog.getText(self, "Marker", "Note (optional):")
        if ok and self._recorder is rec:
            try:
                rec.add_marker(note)
                self.statusBar().showMessage(f"Marker added{': ' + note if note else ''}", 3000)
            except Exception as exc:
                self.show_message(f"Marker failed: {exc}")

    @Slot()
    def reset_baseline(self) -> None:
        """Ask the instant recognizer(s) to re-learn every face's neutral baseline."""
        done = False
        for r in (self._recognizer, self._fallback):
            reset = getattr(r, "reset_baseline", None)
            if callable(reset):
                reset()  # thread-safe in InstantRecognizer
                done = True
        self.statusBar().showMessage(
            "Neutral baseline reset: look neutral for a moment"
            if done
            else "The current recognizer learns no baseline",
            4000,
        )

    @Slot(bool)
    def _on_record_raw(self, on: bool) -> None:
        self.settings.record_raw = bool(on)
        self.save()

    @Slot()
    def _on_choose_record_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Record into", self.settings.record_folder)
        if folder:
            self.settings.record_folder = folder
            self.save()

    # -- models ---------------------------------------------------------------------------
    def current_choice(self) -> ModelChoice:
        s = self.settings
        return ModelChoice(s.model_base, s.model_adapter, s.model_quant, s.threshold)

    @Slot()
    def open_model_dialog(self) -> None:
        dialog = ModelDialog(self.current_choice(), self)
        if dialog.exec() == ModelDialog.DialogCode.Accepted:
            self.load_model(dialog.choice())

    def load_model(self, choice: ModelChoice) -> ModelLoader | None:
        """Load `choice` in the background; the app keeps running on the current recognizer."""
        self.cancel_model_load()
        if not choice.base:
            # The instant recognizer needs no loading.
            self._remember_choice(choice)
            rec = self._make_instant()
            if rec is not None:
                self._install_recognizer(rec, "instant")
            return None
        loader = ModelLoader(choice, self._recognizer_factory, self)
        loader.progressed.connect(self._on_load_progress, Qt.ConnectionType.QueuedConnection)
        loader.loaded.connect(self._on_model_loaded, Qt.ConnectionType.QueuedConnection)
        loader.failed.connect(self._on_model_failed, Qt.ConnectionType.QueuedConnection)
        self._loader = loader
        self._progress = QProgressDialog(f"Loading {choice.describe()}…", "Cancel", 0, 0, self)
        self._progress.setWindowTitle("Loading model")
        self._progress.setWindowModality(Qt.WindowModality.NonModal)
        self._progress.setMinimumDuration(0)
        self._progress.canceled.connect(self.cancel_model_load)
        self._progress.show()
        loader.start()
        self.show_message(f"Loading {choice.describe()}…")
        return loader

    @Slot()
    def cancel_model_load(self) -> None:
        """Cancel a load in progress: returns at once, the late result is discarded."""
        loader, self._loader = self._loader, None
        if loader is not None:
            loader.cancel()
            self._old_loaders.append(loader)
            self.show_message("Model loading cancelled — still using " + self._recognizer_desc)
        self._old_loaders = [ld for ld in self._old_loaders if ld.worker_thread.is_alive()]
        if self._progress is not None:
            progress, self._progress = self._progress, None
            progress.canceled.disconnect(self.cancel_model_load)
            progress.close()

    @Slot(str, float)
    def _on_load_progress(self, text: str, fraction: float) -> None:
        if self._progress is None:
            return
        if text:
            self._progress.setLabelText(text)
        if fraction >= 0:
            self._progress.setMaximum(100)
            self._progress.setValue(round(100 * min(1.0, fraction)))

    @Slot(object, object)
    def _on_model_loaded(self, recognizer: Recognizer, choice: ModelChoice) -> None:
        loader = self.sender()
        if loader is not self._loader or (isinstance(loader, ModelLoader) and loader.cancelled):
            recognizer.close()  # a cancelled or superseded load: discard
            return
        self._loader = None
        if self._progress is not None:
            progress, self._progress = self._progress, None
            progress.canceled.disconnect(self.cancel_model_load)
            progress.close()
        self._remember_choice(choice)
        self._install_recognizer(recognizer, choice.describe())
        self.show_message(f"Model ready: {choice.describe()}")

    @Slot(str, object)
    def _on_model_failed(self, message: str, choice: ModelChoice) -> None:
        loader = self.sender()
        if loader is not self._loader:
            return
        self._loader = None
        if self._progress is not None:
            progress, self._progress = self._progress, None
            progress.canceled.disconnect(self.cancel_model_load)
            progress.close()
        self.show_message(
            f"Could not load {choice.describe()} — still using {self._recognizer_desc}"
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Model",
            f"Could not load {choice.describe()}:\n\n{message}",
            parent=self,
        )
        box.setObjectName("modelErrorBox")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()

    def _remember_choice(self, choice: ModelChoice) -> None:
        self.settings = dataclasses.replace(
            self.settings,
            model_base=choice.base,
            model_adapter=choice.adapter,
            model_quant=choice.quant,
            threshold=choice.threshold,
        )
        self.save()

    def _install_recognizer(self, recognizer: Recognizer, description: str) -> None:
        old = self._recognizer
        self._recognizer = recognizer
        self._recognizer_desc = description
        if self.pipeline is not None and getattr(self._analyzer, "crop_size", None) not in (
            None,
            self._crop_size(),
        ):
            # The new model wants another crop size: restart with a matching analyzer.
            self.stop()
            self._finish_stopping()
            if old is not None and old is not recognizer:
                old.close()
            self.start()
        elif self.pipeline is not None:
            self.pipeline.set_recognizer(recognizer)  # the worker closes the old one
            if getattr(recognizer, "name", "") != "instant":
                self.pipeline.set_fallback(self._get_fallback())
        elif old is not None and old is not recognizer:
            self._finish_stopping()  # a stopped pipeline may still be running it
            old.close()
        self._update_recognizer_label(None)

    def _crop_size(self) -> int:
        try:
            return int(getattr(self._recognizer, "crop_size", 224) or 224)
        except (TypeError, ValueError):
            return 224

    def _get_fallback(self) -> Recognizer | None:
        if self._fallback is None:
            try:
                self._fallback = instant_recognizer(self.settings.threshold)
            except Exception as exc:
                log.warning("no instant fallback: %s", exc)
        return self._fallback

    # -- helpers --------------------------------------------------------------------------
    def _fall_back_to_demo(self, failed_spec: str, reason: str = "") -> bool:
        if failed_spec == "demo":
            return False
        msg = f"Cannot open {failed_spec} — showing the built-in demo"
        if reason:
            msg += f" ({reason})"
        self._select_source("demo")
        self._status_message = msg
        ok = self.start()
        self.show_message(msg)
        return ok

    def _close_analyzer(self) -> None:
        a, self._analyzer = self._analyzer, None
        if a is not None:
            try:
                a.close()
            except Exception:
                log.exception("closing the analyzer failed")
