"""The sessions browser: recordings in the record folder with date, duration, label set and
status; play one beside its timeline, see its report, recover an interrupted one, open its folder."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cer_desktop.session.library import SessionInfo, list_sessions, make_session_report, recover

COLUMNS = ("Started", "Duration", "Label set", "Status", "Frames", "Recognizer", "Folder")


class _Task(QObject):
    """A report or a recovery off the GUI thread (`cer-session-browser`)."""

    done = Signal(str, str, str)  # (what, result, error)

    def __init__(self, what: str, folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.what, self.folder = what, folder
        self.worker_thread = threading.Thread(
            target=self._run, name="cer-session-browser", daemon=True
        )

    def _run(self) -> None:
        try:
            if self.what == "report":
                result = str(make_session_report(self.folder))
            else:
                result = recover(self.folder)
        except Exception as exc:  # a broken session is said, never raised
            self.done.emit(self.what, "", f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(self.what, result, "")


class SessionsBrowser(QDialog):
    """Lists the sessions under `root`; `opened(url)` is how files are opened (the desktop's
    player or image viewer by default; tests replace it)."""

    def __init__(self, root: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sessions in {root}")
        self.setObjectName("sessionsBrowser")
        self.root = Path(root)
        self.sessions: list[SessionInfo] = []
        self.tasks: list[_Task] = []
        self.players: list[QDialog] = []
        self.open_url = QDesktopServices.openUrl
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._sync_buttons)
        self.play_button = QPushButton("Play video")
        self.report_button = QPushButton("Timeline")
        self.recover_button = QPushButton("Recover")
        self.folder_button = QPushButton("Open folder")
        self.play_button.clicked.connect(self.play)
        self.report_button.clicked.connect(lambda: self._start("report"))
        self.recover_button.clicked.connect(lambda: self._start("recover"))
        self.folder_button.clicked.connect(self.open_folder)
        self.status = QLabel("")
        self.timeline = QLabel("")
        self.timeline.setObjectName("sessionTimeline")
        self.timeline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.timeline)
        scroll.setWidgetResizable(True)
        buttons = QHBoxLayout()
        for b in (self.play_button, self.report_button, self.recover_button, self.folder_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 3)
        self.resize(960, 640)
        self.refresh()

    def refresh(self) -> None:
        self.sessions = list_sessions(self.root)
        self.table.setRowCount(len(self.sessions))
        for row, s in enumerate(self.sessions):
            status = "interrupted — recover it" if s.interrupted else s.status
            duration = "" if s.duration_s is None else f"{s.duration_s:.1f} s"
            cells = (
                s.started_at[:19].replace("T", " "),
                duration,
                s.label_set,
                status,
                str(s.frames),
                s.recognizer,
                s.folder.name,
            )
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if not self.sessions:
            self.status.setText(f"No recordings in {self.root} yet.")
        self._sync_buttons()

    @property
    def selected(self) -> SessionInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.sessions[rows[0].row()] if rows else None

    def _sync_buttons(self) -> None:
        s = self.selected
        self.play_button.setEnabled(s is not None and s.has_video)
        self.report_button.setEnabled(s is not None)
        self.recover_button.setEnabled(s is not None and s.interrupted)
        self.folder_button.setEnabled(s is not None)

    @Slot()
    def play(self) -> QDialog | None:
        """Play the selected session's annotated video beside its timeline."""
        from cer_desktop.gui.session_player import SessionPlayer

        s = self.selected
        if s is None or not s.has_video:
            return None
        player = SessionPlayer(s.folder, self)
        self.players.append(player)
        player.show()
        player.play()
        return player

    @Slot()
    def open_folder(self) -> None:
        s = self.selected
        if s is not None:
            self.open_url(QUrl.fromLocalFile(str(s.folder)))

    def _start(self, what: str) -> None:
        s = self.selected
        if s is None:
            return
        task = _Task(what, s.folder, self)
        task.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self.tasks.append(task)
        self.status.setText(
            ("Drawing the timeline of " if what == "report" else "Recovering ")
            + s.folder.name
            + "…"
        )
        task.worker_thread.start()

    @Slot(str, str, str)
    def _on_done(self, what: str, result: str, error: str) -> None:
        if error:
            self.status.setText(f"{'Report' if what == 'report' else 'Recovery'} failed: {error}")
            return
        if what == "report":
            pixmap = QPixmap(result)
            holder = self.timeline.parentWidget()
            width = max(200, (holder.width() if holder is not None else self.width()) - 24)
            if pixmap.width() > width:
                pixmap = pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
            self.timeline.setPixmap(pixmap)
            self.status.setText(f"Timeline: {result}")
        else:
            self.status.setText(result)
            self.refresh()

    def shutdown(self) -> None:
        for p in self.players:
            p.close()
        for t in self.tasks:
            t.worker_thread.join(60.0)

    def done(self, result: int) -> None:  # noqa: D102 - QDialog override
        self.shutdown()
        super().done(result)
