"""The model dialog's remote-server page: choice round trip, privacy notice, connection test."""

from __future__ import annotations

import json
import threading

import pytest

from cer_desktop.gui.model_dialog import ModelDialog
from cer_desktop.gui.remote_page import RemotePage, privacy_text
from cer_desktop.recognition.remote.client import ServerConfig
from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.testing.remote_server import FakeServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("CER_API_KEY", raising=False)
    with FakeServer() as s:
        yield s


def test_privacy_notice_names_the_destination_and_never_the_key(monkeypatch):
    monkeypatch.setenv("CER_API_KEY", "zz-secret")
    assert "to a server on this machine" in privacy_text("http://127.0.0.1:8000/v1")
    remote = privacy_text("http://gpu.lab.example:8000/v1")
    assert "gpu.lab.example unencrypted" in remote and "only sent over https" in remote
    secure = privacy_text("https://gpu.lab.example/v1")
    assert "to gpu.lab.example." in secure and "never saved" in secure
    assert all("zz-secret" not in t for t in (remote, secure))


def test_dialog_round_trips_a_remote_choice(qtbot):
    choice = RecognizerChoice(
        threshold=0.3, server="http://127.0.0.1:8000/v1", served_model="m", model_meta="/m/x"
    )
    d = ModelDialog(choice)
    qtbot.addWidget(d)
    assert d.tabs.currentWidget() is d.remote, "a remote choice opens on the remote page"
    assert d.choice() == choice
    assert "this machine" in d.remote.privacy.text()
    d.remote.url.setText("https://gpu.example.org/v1")
    assert "gpu.example.org" in d.remote.privacy.text()
    spec = d.choice().to_spec()
    assert isinstance(spec, ServerConfig) and spec.model == "m" and spec.model_meta == "/m/x"
    assert d.choice().wants_model and "remote: m @" in d.choice().describe()
    d.tabs.setCurrentIndex(0)
    assert d.choice().server == "", "the local page gives a local choice"
    d.use_instant.click()
    assert not d.choice().wants_model and d.choice().to_spec() is None


def test_connection_test_reports_the_engine_and_mode(qtbot, server):
    page = RemotePage(server.url, "tiny")
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.probed, timeout=10000) as blocker:
        page.test.click()
    assert blocker.args[1] is True
    qtbot.waitUntil(lambda: page.test.isEnabled(), timeout=2000)
    assert "fake 1.0" in page.result.text() and "prompt_logprobs" in page.result.text()
    page.model.setText("nope")
    with qtbot.waitSignal(page.probed, timeout=10000) as blocker:
        page.test.click()
    assert blocker.args[1] is False and "UnknownModel" in blocker.args[0]
    page.shutdown()
    assert page._thread is not None and not page._thread.is_alive()


def test_a_remote_choice_is_remembered_in_the_settings_and_read_back():
    import dataclasses

    from cer_desktop.settings import AppSettings

    choice = RecognizerChoice(
        threshold=0.2, server="http://127.0.0.1:8000/v1", served_model="m", model_meta="/m/x"
    )
    saved = dataclasses.replace(AppSettings(), **choice.settings_fields())
    assert (saved.remote_url, saved.remote_model, saved.remote_meta) == (
        "http://127.0.0.1:8000/v1", "m", "/m/x"
    )  # fmt: skip
    assert RecognizerChoice.from_settings(saved) == choice


# -- issue 19, defect 10: a password in the server URL is never saved or shown ------------
SECRET_URL = "http://bob:hunter2@127.0.0.1:8000/v1"


def test_url_credentials_are_stripped_before_saving_and_showing(tmp_path):
    import dataclasses

    from cer_desktop.settings import AppSettings, load_settings, save_settings

    choice = RecognizerChoice(server=SECRET_URL, served_model="m")
    assert choice.server == "http://127.0.0.1:8000/v1" and choice.credentials_removed
    assert "hunter2" not in choice.describe() and "bob" not in choice.describe()
    fields = choice.settings_fields()
    assert fields["remote_url"] == "http://127.0.0.1:8000/v1"
    # a settings object holding one (set by hand, or by an older version) is saved clean
    path = tmp_path / "settings.json"
    save_settings(dataclasses.replace(AppSettings(), remote_url=SECRET_URL), path)
    assert "hunter2" not in path.read_text()
    path.write_text(json.dumps({"remote_url": SECRET_URL}))  # an old file: read back clean
    assert load_settings(path).remote_url == "http://127.0.0.1:8000/v1"
    # the page says it was removed and where the key goes instead
    text = privacy_text(SECRET_URL)
    assert "hunter2" not in text and "CER_API_KEY" in text and "removed" in text


def test_loading_a_server_url_with_credentials_says_to_use_the_api_key(
    make_window, qtbot, monkeypatch
):
    from cer_desktop.settings import load_settings
    from cer_desktop.testing.fakes import FixedRecognizer

    said: list[str] = []
    made = threading.Event()

    def factory(spec, *, progress=None, cancel=None):
        made.set()
        return FixedRecognizer(name="remote")

    w = make_window(recognizer_factory=factory)
    monkeypatch.setattr(w.statusBar(), "showMessage", lambda m, *a: said.append(m))
    w.load_model(RecognizerChoice(server=SECRET_URL, served_model="m", deadline=1.5))
    qtbot.waitUntil(
        lambda: w.recognizer is not None and w.recognizer.name == "remote", timeout=5000
    )
    assert any("CER_API_KEY" in m and "removed" in m for m in said), said
    assert not any("hunter2" in m for m in said), said
    assert w.settings.remote_url == "http://127.0.0.1:8000/v1"
    assert w.settings.remote_deadline == 1.5
    assert "hunter2" not in str(load_settings())


def test_the_live_deadline_is_a_setting_and_a_command_line_option():
    from cer_desktop.gui.app import build_parser
    from cer_desktop.settings import AppSettings

    assert build_parser().parse_args(["--remote-deadline", "1.5"]).remote_deadline == 1.5
    assert AppSettings(remote_deadline=0.0).validated().remote_deadline == 3.0
    spec = RecognizerChoice(
        server="http://127.0.0.1:8000/v1", served_model="m", deadline=2.5
    ).to_spec()
    assert spec.live_deadline == 2.5 and spec.timeout == 30.0, "annotate-sized timeouts kept"
