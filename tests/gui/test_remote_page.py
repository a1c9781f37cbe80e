"""The model dialog's remote-server page: choice round trip, privacy notice, connection test."""

from __future__ import annotations

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
