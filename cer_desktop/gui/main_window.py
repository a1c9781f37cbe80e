"""The main window: a view of a `LiveSession` — video, controls, status — and nothing else.

The session (cer_desktop.session) starts and stops runs, picks analyzers and fallbacks and
records; the window forwards the user's choices to it and shows its typed events, which
arrive through a queued signal (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDialog, QMainWindow

from cer_desktop.contracts import Annotation, Recognizer, StatusKind
from cer_desktop.gui.face_panel import FacePanel, add_dock_toggle, dock_face_panel
from cer_desktop.gui.model_controller import ModelController
from cer_desktop.gui.model_dialog import ModelLoader
from cer_desktop.gui.recording_controls import RecordingControls
from cer_desktop.gui.source_picker import SourcePicker
from cer_desktop.gui.status_panel import StatusPanel
from cer_desktop.gui.streams_page import StreamsControls
from cer_desktop.gui.toolbar import build_controls, select_label_set
from cer_desktop.gui.video_view import FrameBridge, VideoView
from cer_desktop.gui.window_state import StartupRecovery, remember_layout, restore_layout
from cer_desktop.labels import LabelSetError, get_label_set
from cer_desktop.session import events as ev
from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.session.factories import AnalyzerFactory, SourceFactory, camera_specs_with_problem
from cer_desktop.session.live import LiveSession
from cer_desktop.session.streams import SessionStreams
from cer_desktop.settings import AppSettings, save_settings

log = logging.getLogger(__name__)


class SessionEvents(QObject):
    """Carries session events from any thread to the GUI thread (a queued signal)."""

    received = Signal(object)


class MainWindow(QMainWindow):
    """The cer-desktop window.

    Factories are injectable so tests can run it on synthetic sources and fake analyzers.
    `recognizer` is the initial recognizer (None = the instant one); the session owns it.
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
        self.setAcceptDrops(True)
        self.settings = (settings or AppSettings()).validated()
        self._persist = persist
        self._status_message = ""
        self._shut_down = False
        self._recovery = StartupRecovery()  # quitting ends its wait for leases

        self.bridge = FrameBridge(self)
        self.view = VideoView(self)
        self.view.connect_bridge(self.bridge)
        self.setCentralWidget(self.view)
        self.events = SessionEvents(self)
        self.events.received.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self.bridge.statusChanged.connect(self.show_message, Qt.ConnectionType.QueuedConnection)
        streams_sink = SessionStreams.make_sink()  # LSL, WebSocket, OSC (streams_page.py)
        self.session = LiveSession(
            self._initial_label_set(),
            recognizer=recognizer,
            source_factory=source_factory,
            analyzer_factory=analyzer_factory,
            smoothing=self.settings.smoothing,
            max_faces=self.settings.max_faces,
            show_aus=self.settings.show_aus,
            threshold=self.settings.threshold,
            on_display=self.bridge.deliver,
            sinks=(streams_sink,),
        )
        self.session.subscribe(self.events.received.emit)
        self.streams = SessionStreams(self.session, streams_sink, max_faces=self.settings.max_faces)
        self.view.on_shown = self._on_frame_shown
        self.face_panel = FacePanel(self)
        self.face_dock = dock_face_panel(self, self.face_panel)
        self.models = ModelController(
            self,
            self.session,
            factory=recognizer_factory,
            current=lambda: RecognizerChoice.from_settings(self.settings),
            remember=self._remember_choice,
            say=self.show_message,
        )

        # macOS may refuse the camera: then the status bar says where to allow it
        cams, camera_problem = camera_specs_with_problem() if cameras is None else (cameras, "")
        c = self.controls = build_controls(self, self.settings, cams)
        self.source_combo, self.label_combo = c.source_combo, c.label_combo
        self.smoothing_slider, self.max_faces_spin = c.smoothing_slider, c.max_faces_spin
        self.aus_check, self.start_button = c.aus_check, c.start_button
        self.record_action, self.marker_action = c.record_action, c.marker_action
        self.raw_action, self.baseline_action = c.raw_action, c.baseline_action
        self.model_action = c.model_action
        self.sources = SourcePicker(
            self, c.source_combo, lambda: self.settings, bool(cams), self.use_source
        )
        self._status_message = (
            self._status_message or camera_problem or self.sources.initial_message
        )
        select_label_set(c.label_combo, self.session.label_set)
        self.recorder = RecordingControls(
            self,
            self.session,
            lambda: self.settings,
            start_session=self.start,
            save=self.save,
            say=self.show_message,
            changed=self._sync_controls,
        )
        self._connect_controls()
        add_dock_toggle(self, self.face_dock, "Ctrl+P")
        self.status_panel = StatusPanel(self.statusBar())
        self.rec_label = self.status_panel.rec_label
        self.stream_controls = StreamsControls(self)  # starts the remembered streams
        # Refreshes the rates and the REC clock; ends and failures arrive as events.
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._refresh_status)
        self._timer.start()
        self.resize(1240, 720)
        restore_layout(self, self.settings)
        if autostart:
            QTimer.singleShot(0, self.start)

    def _connect_controls(self) -> None:
        c = self.controls
        c.label_combo.currentIndexChanged.connect(self._on_label_set_changed)
        c.smoothing_slider.valueChanged.connect(self._on_smoothing_changed)
        c.max_faces_spin.valueChanged.connect(self._on_max_faces_changed)
        c.aus_check.toggled.connect(self._on_show_aus)
        c.start_button.clicked.connect(self._on_start_stop)
        c.start_action.triggered.connect(self._on_start_stop)
        c.record_action.triggered.connect(self.recorder.toggle)
        c.marker_action.triggered.connect(self.recorder.marker)
        c.raw_action.toggled.connect(self.recorder.set_raw)
        c.baseline_action.triggered.connect(self.reset_baseline)
        c.model_action.triggered.connect(self.models.open_dialog)
        c.record_folder_action.triggered.connect(self.recorder.choose_folder)
        c.open_file_action.triggered.connect(self.sources.open_file)
        c.open_folder_action.triggered.connect(self.sources.open_folder)
        c.full_screen_action.toggled.connect(self._on_full_screen)
        c.about_action.triggered.connect(self._on_about)
        c.sessions_action.triggered.connect(self.open_sessions)
        c.quit_action.triggered.connect(self.close)

    def _initial_label_set(self) -> Any:
        try:
            return get_label_set(self.settings.label_set)
        except LabelSetError as exc:
            self._status_message = str(exc)
            return get_label_set(AppSettings().label_set)

    # -- public API -----------------------------------------------------------------------
    @property
    def source_spec(self) -> str:
        return self.sources.spec

    @property
    def recognizer(self) -> Recognizer | None:
        return self.session.recognizer

    @property
    def recording(self) -> bool:
        return self.session.recording.active

    def show_message(self, message: str) -> None:
        self._status_message = message
        self.statusBar().showMessage(message)

    def start(self) -> bool:
        """Start the session on the selected source; False (with a message) on failure."""
        if self._shut_down:
            return False
        ok = self.session.start(self.source_spec)
        self._sync_controls()
        if self._status_message:
            self.statusBar().showMessage(self._status_message)
        return ok

    def stop(self) -> None:
        """Stop recording and the session (without waiting for a recognizer call)."""
        self.session.stop()
        self._sync_controls()

    def start_recording(self) -> bool:
        """Record the running session; False (with a message) if it cannot."""
        return self.recorder.start()

    def shutdown(self) -> None:
        """Stop everything and join every thread (QApplication.aboutToQuit). Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self._timer.stop()
        remember_layout(self, self.settings)
        self.models.shutdown()
        self.streams.close()
        self.session.shutdown()
        self._recovery.stop()
        self.save()

    def recover_unfinished_sessions(self) -> None:
        """Repair sessions a crash left unfinished in the record folder, off the GUI thread."""
        self._recovery.start(self.settings.record_folder, self.bridge.status)

    def save(self) -> None:
        if self._persist:
            save_settings(self.settings)

    # -- session events (GUI thread) ------------------------------------------------------
    @Slot(object)
    def _on_event(self, event: Any) -> None:
        self._sync_controls()
        if isinstance(event, ev.SessionStarted):
            if self.source_spec != event.source:
                self.sources.select(event.source)  # e.g. the demo instead of a dead camera
        elif isinstance(event, ev.StatusReported) and event.status.kind is StatusKind.FACES:
            # a per-frame condition: cleared, the lasting message comes back
            self.statusBar().showMessage(event.status.message or self._status_message)
        elif isinstance(event, ev.SessionStarted | ev.RecognizerChanged):
            return
        elif isinstance(event, ev.MarkerAdded):
            self.face_panel.add_marker(event.text or event.source)
        elif event.status.message:
            self.show_message(event.status.message)

    def _on_frame_shown(self) -> None:
        self.session.note_displayed()
        annotation = self.bridge.shown_annotation
        if isinstance(annotation, Annotation) and self.face_dock.isVisible():
            self.face_panel.show_annotation(annotation)

    def _sync_controls(self) -> None:
        running, recording = self.session.running, self.session.recording.active
        self.start_button.setText("Stop" if running else "Start")
        self.record_action.setChecked(recording)
        self.record_action.setText("■ Stop recording" if recording else "● Record")
        self.marker_action.setEnabled(recording)
        if self.label_combo.currentData() != self.session.label_set.name:
            # the session changed it (a model trained on another set): show, do not re-apply
            with QSignalBlocker(self.label_combo):
                select_label_set(self.label_combo, self.session.label_set)
        self._refresh_status()

    @Slot()
    def _refresh_status(self) -> None:
        s = self.session
        self.status_panel.refresh(s.stats, s.recognizer_description, s.recording)
        self.stream_controls.refresh()

    # -- controls -------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.use_source(urls[0].toLocalFile())
            event.acceptProposedAction()

    def use_source(self, spec: str) -> bool:
        """Use a video file, image folder, "demo" or "camera:N" as the source, remember it,
        and start."""
        self.sources.remember(spec)
        self._status_message = ""
        self.statusBar().clearMessage()
        self.save()
        return self.start()

    @Slot()
    def _on_start_stop(self) -> None:
        if self.session.running:
            self.stop()
        else:
            self.start()

    def _on_source_activated(self, index: int) -> None:
        self.sources._on_activated(index)

    @Slot(int)
    def _on_label_set_changed(self, index: int) -> None:
        name = str(self.label_combo.itemData(index))
        try:
            label_set = get_label_set(name)
        except LabelSetError as exc:
            self.show_message(str(exc))
            return
        self.settings.label_set = name
        self.session.set_label_set(label_set)
        self.save()

    @Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self.settings.smoothing = value / 100.0
        self.session.set_smoothing(self.settings.smoothing)

    @Slot(int)
    def _on_max_faces_changed(self, value: int) -> None:
        # applied between two frames, or refused with a message: show the limit in force
        self.session.set_max_faces(int(value))
        self.settings.max_faces = self.session.max_faces
        self.streams.set_max_faces(self.session.max_faces)
        if self.session.max_faces != int(value):
            with QSignalBlocker(self.max_faces_spin):
                self.max_faces_spin.setValue(self.session.max_faces)

    @Slot(bool)
    def _on_show_aus(self, on: bool) -> None:
        self.settings.show_aus = bool(on)
        self.session.set_show_aus(bool(on))

    @Slot(bool)
    def _on_full_screen(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    @Slot()
    def open_sessions(self) -> QDialog:
        """The sessions browser on the record folder (non-modal)."""
        from cer_desktop.gui.sessions_browser import SessionsBrowser

        browser = SessionsBrowser(self.settings.record_folder, self)
        browser.show()
        return browser

    @Slot()
    def _on_about(self) -> None:
        from cer_desktop.gui.about import show_about
        from cer_desktop.logs import log_file

        show_about(self, self.session.recognizer_description, str(log_file()))

    @Slot()
    def reset_baseline(self) -> None:
        """Ask the instant recognizer(s) to re-learn every face's neutral baseline."""
        done = self.session.reset_baseline()
        self.statusBar().showMessage(
            "Neutral baseline reset: look neutral for a moment"
            if done
            else "The current recognizer learns no baseline",
            4000,
        )

    # -- models ---------------------------------------------------------------------------
    def load_model(self, choice: RecognizerChoice) -> ModelLoader | None:
        """Load `choice` in the background; the app keeps running on the current recognizer."""
        return self.models.load(choice)

    def _remember_choice(self, choice: RecognizerChoice) -> None:
        self.settings = dataclasses.replace(self.settings, **choice.settings_fields())
        self.session.set_threshold(choice.threshold)
        self.save()
