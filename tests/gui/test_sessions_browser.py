"""The sessions browser: recordings listed with date, duration, label set and status;
play beside the timeline, report, recover."""

from __future__ import annotations

import importlib
import json
import threading

import pytest
from PySide6.QtWidgets import QDialog

from cer_desktop.labels import RAF_BASIC
from cer_desktop.session.live import LiveSession
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer, ListSource, synthetic_frames


@pytest.fixture(scope="module")
def record_root(tmp_path_factory):
    """Two real recordings made by a live session; the second left 'interrupted'."""
    importlib.import_module("cer_desktop.recording.recorder")
    root = tmp_path_factory.mktemp("rec")
    frames = synthetic_frames(10)
    session = LiveSession(
        RAF_BASIC,
        recognizer=FixedRecognizer(top="Happiness", name="fixed"),
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        analyzer_factory=lambda n, crop: FakeAnalyzer(),
    )
    folders = []
    try:
        session.start("demo")
        for _ in range(2):
            folders.append(session.recording.start(root))
            threading.Event().wait(0.4)
            session.recording.stop()
            threading.Event().wait(1.1)  # session folders are named by the second
    finally:
        session.shutdown()
    manifest = folders[1] / "manifest.json"
    m = json.loads(manifest.read_text())
    m.update(status="recording", pid=2**22 + 4321)  # its process is gone
    manifest.write_text(json.dumps(m))
    return root, folders


def test_sessions_are_listed_with_their_facts(qtbot, record_root):
    from cer_desktop.gui.sessions_browser import SessionsBrowser

    root, folders = record_root
    b = SessionsBrowser(root)
    qtbot.addWidget(b)
    assert b.table.rowCount() == 2
    rows = {
        b.table.item(r, 6).text(): [b.table.item(r, c).text() for c in range(6)] for r in range(2)
    }
    done, cut = rows[folders[0].name], rows[folders[1].name]
    assert done[2] == "raf_basic" and done[3] == "complete" and int(done[4]) > 0
    assert done[1].endswith(" s") and done[5] == "fixed"
    assert cut[3].startswith("interrupted")


def test_timeline_play_and_recover(qtbot, record_root):
    from cer_desktop.gui.sessions_browser import SessionsBrowser

    root, folders = record_root
    b = SessionsBrowser(root)
    qtbot.addWidget(b)
    row = next(r for r in range(2) if b.table.item(r, 6).text() == folders[0].name)
    b.table.selectRow(row)
    assert not b.recover_button.isEnabled(), "a complete session needs no recovery"
    # When the user plays it: the video plays beside its timeline, the cursor following
    player = b.play()
    assert player is not None
    assert len(player.curves["Happiness"].getData()[0]) > 3, "the session's timeline is drawn"
    qtbot.waitUntil(lambda: player.view.shown >= 3 and player.t_shown > 0.0, timeout=30000)
    player.close()
    assert not any(
        t.name == "cer-session-player" and t.is_alive() for t in threading.enumerate()
    ), "closing the player joins its thread"
    # When the user asks for its report's timeline
    b.report_button.click()
    qtbot.waitUntil(
        lambda: b.timeline.pixmap() is not None and not b.timeline.pixmap().isNull(),
        timeout=30000,
    )
    assert (folders[0] / "report" / "timeline.png").exists()
    # When the interrupted one is recovered
    cut = next(r for r in range(2) if b.table.item(r, 6).text() == folders[1].name)
    b.table.selectRow(cut)
    assert b.recover_button.isEnabled()
    b.recover_button.click()
    qtbot.waitUntil(lambda: b.status.text().startswith("Recovered"), timeout=30000)
    assert json.loads((folders[1] / "manifest.json").read_text())["status"] == "recovered"
    b.close()
    assert not any(t.name == "cer-session-browser" and t.is_alive() for t in threading.enumerate())


def test_the_window_opens_the_browser_on_its_record_folder(qtbot, tmp_path):
    from cer_desktop.gui.main_window import MainWindow
    from cer_desktop.settings import AppSettings

    w = MainWindow(
        AppSettings(source="demo", record_folder=str(tmp_path)),
        cameras=[],
        persist=False,
        autostart=False,
        recognizer=FixedRecognizer(),
    )
    qtbot.addWidget(w)
    w.controls.sessions_action.trigger()
    (browser,) = [c for c in w.findChildren(QDialog) if c.objectName() == "sessionsBrowser"]
    assert "No recordings" in browser.status.text()
    browser.close()
    w.shutdown()


def test_a_video_that_cannot_be_played_is_said_in_the_player(qtbot, record_root, tmp_path):
    import shutil

    from cer_desktop.gui.session_player import SessionPlayer

    # Given a recorded session whose video was damaged after the fact
    _, folders = record_root
    broken = tmp_path / "broken"
    shutil.copytree(folders[0], broken)
    (broken / "annotated.mp4").write_bytes(b"this is not a video" * 100)
    # When the user plays it
    player = SessionPlayer(broken)
    qtbot.addWidget(player)
    player.show()
    player.play()
    # Then the player says why it shows nothing (not a blank view), and its thread ends
    qtbot.waitUntil(lambda: player.message.isVisible(), timeout=30000)
    assert player.message.text().startswith("Cannot play broken"), player.message.text()
    assert "cannot play" in player.windowTitle()
    player.close()
    assert not any(t.name == "cer-session-player" and t.is_alive() for t in threading.enumerate())
