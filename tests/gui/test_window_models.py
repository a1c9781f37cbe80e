"""The window's models: loading in the background, cancel, failure, the crop size the model
wants, the model dialog, a real tiny Qwen2-VL (offscreen, on synthetic sources)."""

from __future__ import annotations

import importlib
import threading
import time

import pytest
from PySide6.QtCore import QThread

from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.settings import load_settings
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer


class SlowFactory:
    """A create_recognizer stand-in: waits for `go`, or fails with `error`."""

    def __init__(self, error: str | None = None) -> None:
        self.go = threading.Event()
        self.error = error
        self.made: list[FixedRecognizer] = []

    def __call__(self, spec, *, progress=None, cancel=None):
        if progress:
            progress("loading weights", 0.5)
        if self.error:
            raise FileNotFoundError(self.error)
        self.go.wait(10)
        r = FixedRecognizer(top="Sadly Angry", name="lvlm")
        self.made.append(r)
        return r


def test_model_loads_in_background_and_is_remembered(make_window, qtbot, monkeypatch):
    factory = SlowFactory()
    w = make_window(recognizer_factory=factory)
    monkeypatch.setattr(
        RecognizerChoice, "to_spec", lambda self: self
    )  # no ModelSpec validation needed
    loader = w.load_model(RecognizerChoice("some/model", "", "nf4", 0.3))
    assert loader is not None and w.models.progress is not None
    # The GUI keeps painting while the model loads
    shown = w.view.shown
    qtbot.waitUntil(lambda: w.view.shown > shown + 2, timeout=5000)
    factory.go.set()
    qtbot.waitUntil(lambda: w.recognizer is not None and w.recognizer.name == "lvlm", timeout=5000)
    loader.join(5)
    assert w.settings.model_base == "some/model" and w.settings.model_quant == "nf4"
    assert load_settings().model_base == "some/model", "the model choice must be remembered"
    qtbot.waitUntil(lambda: w.session.stats.recognizer == "lvlm", timeout=5000)


def test_cancel_returns_at_once_and_discards_the_result(make_window, qtbot, monkeypatch):
    factory = SlowFactory()
    first = FixedRecognizer(name="first")
    w = make_window(recognizer=first, recognizer_factory=factory)
    monkeypatch.setattr(RecognizerChoice, "to_spec", lambda self: self)
    loader = w.load_model(RecognizerChoice("some/model"))
    t0 = time.monotonic()
    w.models.cancel()
    assert time.monotonic() - t0 < 0.5, "cancel must not wait for the load"
    factory.go.set()
    loader.join(5)
    assert not loader.worker_thread.is_alive()
    assert isinstance(loader.thread(), QThread), "QObject.thread() must stay Qt's own"
    qtbot.wait(100)  # let any queued signal arrive
    assert w.recognizer is first, "a cancelled load must not replace the recognizer"
    assert factory.made and factory.made[0].closed, "the late result must be closed"
    assert w.settings.model_base == ""


def test_failed_load_shows_a_message_and_keeps_the_recognizer(make_window, qtbot, monkeypatch):
    factory = SlowFactory(error="model some/missing is not in the local cache")
    first = FixedRecognizer(name="first")
    w = make_window(recognizer=first, recognizer_factory=factory)
    monkeypatch.setattr(RecognizerChoice, "to_spec", lambda self: self)
    w.load_model(RecognizerChoice("some/missing"))
    qtbot.waitUntil(lambda: "Could not load" in w.statusBar().currentMessage(), timeout=5000)
    assert w.recognizer is first
    boxes = [c for c in w.findChildren(object) if c.objectName() == "modelErrorBox"]
    assert boxes and "not in the local cache" in boxes[0].text()
    shown = w.view.shown
    qtbot.waitUntil(lambda: w.view.shown > shown + 2, timeout=5000)


def test_model_dialog_round_trip(qtbot):
    from cer_desktop.gui.model_dialog import ModelDialog

    d = ModelDialog(RecognizerChoice("base/id", "/adapters/x", "nf4", 0.4))
    qtbot.addWidget(d)
    assert d.choice() == RecognizerChoice("base/id", "/adapters/x", "nf4", 0.4)
    d.quant.setCurrentText("int8")
    d.threshold.setValue(0.25)
    assert d.choice().quant == "int8" and d.choice().threshold == pytest.approx(0.25)
    d.use_instant.click()
    assert d.choice().base == "" and d.result() == ModelDialog.DialogCode.Accepted
    assert d.choice().to_spec() is None, "an empty base means the instant recognizer"


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    tiny = importlib.import_module("cer_desktop.testing.tiny_models")
    return tiny.build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny") / "qwen")


@pytest.mark.slow
def test_a_real_tiny_model_loads_through_the_factory_and_runs_live(make_window, qtbot, tiny_qwen):
    importlib.import_module("cer_desktop.recognition.factory")
    # Given the window running on the instant tier (the default recognizer)
    w = make_window(recognizer=FixedRecognizer(name="instant"))
    # When the user picks a local tiny Qwen2-VL folder
    w.load_model(RecognizerChoice(str(tiny_qwen), "", "none", 0.0))
    qtbot.waitUntil(lambda: w.models.loader is None, timeout=120_000)
    # Then the LVLM recognizer runs in the live worker and the choice is remembered
    assert "Model ready" in w.statusBar().currentMessage(), w.statusBar().currentMessage()
    qtbot.waitUntil(
        lambda: w.session.stats.recognizer_calls > 0 and w.session.stats.recognizer == "lvlm",
        timeout=60_000,
    )
    assert load_settings().model_base == str(tiny_qwen)


@pytest.mark.slow
def test_a_missing_model_folder_gives_a_clear_message(make_window, qtbot, tmp_path):
    importlib.import_module("cer_desktop.recognition.factory")
    w = make_window(recognizer=FixedRecognizer(name="instant"))
    w.load_model(RecognizerChoice(str(tmp_path / "no-such-model")))
    qtbot.waitUntil(lambda: w.models.loader is None, timeout=60_000)
    boxes = [c for c in w.findChildren(object) if c.objectName() == "modelErrorBox"]
    assert boxes, "no error message shown"
    assert "no-such-model" in boxes[0].text()
    assert w.recognizer.name == "instant", "the app keeps running on the instant tier"


def test_analyzer_crops_at_the_models_size(make_window, qtbot, monkeypatch):
    # Given an analyzer factory that remembers the crop sizes asked for
    crops: list[int] = []

    class SizedAnalyzer(FakeAnalyzer):
        def __init__(self, crop):
            super().__init__()
            self.crop_size = crop
            self.max_faces = 4

    def analyzers(n, crop):
        crops.append(crop)
        return SizedAnalyzer(crop)

    class Model112(FixedRecognizer):
        crop_size = 112

    def factory(spec, *, progress=None, cancel=None):
        return Model112(name="lvlm")

    w = make_window(analyzer_factory=analyzers, recognizer_factory=factory)
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    monkeypatch.setattr(RecognizerChoice, "to_spec", lambda self: self)
    # When a model trained on 112-pixel crops is loaded
    w.load_model(RecognizerChoice("m112"))
    qtbot.waitUntil(lambda: w.recognizer.name == "lvlm", timeout=5000)
    # Then the pipeline restarts with an analyzer that crops at 112
    assert crops == [224, 112], crops
    qtbot.waitUntil(
        lambda: w.session.running and w.session.stats.recognizer == "lvlm", timeout=5000
    )


def test_a_model_trained_on_another_label_set_switches_the_labels_to_it(
    make_window, qtbot, monkeypatch
):
    from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND

    class Adapter(FixedRecognizer):
        label_set = RAF_COMPOUND  # what its metadata says it was trained on

    class Factory(SlowFactory):
        def __call__(self, spec, *, progress=None, cancel=None):
            return Adapter(top=0, name="lvlm")

    # Given the window on RAF-DB basic
    w = make_window(recognizer=FixedRecognizer(top=0, name="first"), recognizer_factory=Factory())
    monkeypatch.setattr(RecognizerChoice, "to_spec", lambda self: self)
    w.label_combo.setCurrentIndex(w.label_combo.findData(RAF_BASIC.name))
    assert w.session.label_set.name == RAF_BASIC.name
    # When a model trained on RAF-DB compound is loaded
    w.load_model(RecognizerChoice("base", "/adapters/compound"))
    qtbot.waitUntil(lambda: w.recognizer is not None and w.recognizer.name == "lvlm", timeout=5000)
    message = w.statusBar().currentMessage()
    # Then the session scores its labels, the label list shows them and the user is told
    assert w.session.label_set.labels == RAF_COMPOUND.labels
    qtbot.waitUntil(lambda: w.label_combo.currentData() == RAF_COMPOUND.name, timeout=5000)
    assert "labels: " + RAF_COMPOUND.title in message, message
    assert w.settings.label_set == RAF_BASIC.name, "the user's own choice stays remembered"
    # and the user can still choose another set
    w.label_combo.setCurrentIndex(w.label_combo.findData(RAF_BASIC.name))
    assert w.session.label_set.name == RAF_BASIC.name
