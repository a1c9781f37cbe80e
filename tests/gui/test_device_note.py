"""The window says what 4-bit runs as when the loaded model carries a device note."""

from __future__ import annotations

from cer_desktop.recognition.lvlm.device_plan import quant_note
from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.testing.fakes import FixedRecognizer


def test_the_window_says_what_4bit_runs_as(make_window, qtbot, monkeypatch):
    note = quant_note("nf4", "mps")

    def factory(spec, *, progress=None, cancel=None):
        r = FixedRecognizer(top="Sadly Angry", name="lvlm")
        r.device_note = note  # as LVLMRecognizer sets it after loading on a Mac
        return r

    w = make_window(recognizer_factory=factory)
    monkeypatch.setattr(RecognizerChoice, "to_spec", lambda self: self)
    w.load_model(RecognizerChoice("some/model", "", "nf4", 0.3))
    qtbot.waitUntil(lambda: w.models.loader is None, timeout=10_000)
    message = w.statusBar().currentMessage()
    assert message.startswith("Model ready") and "Apple GPU (MPS)" in message, message
