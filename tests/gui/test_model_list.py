"""The model manager: local models and adapters listed, picked into the dialog, downloaded
with progress and cancel (a fake download: nothing is fetched in tests)."""

from __future__ import annotations

import threading

from cer_desktop.gui.model_dialog import ModelDialog
from cer_desktop.gui.model_list import ModelList
from cer_desktop.recognition.lvlm.commands import LocalModel
from cer_desktop.session.choice import RecognizerChoice

FOUND = [
    LocalModel("model", "Qwen/Qwen2-VL-2B-Instruct", "/cache/qwen", 4_420_000_000),
    LocalModel("adapter", "stage2", "/adapters/stage2", 40_000_000, "raf_compound", "/cache/qwen"),
]


def test_the_list_shows_local_models_and_fills_the_dialog(qtbot):
    # Given two things on this machine
    models = ModelList(finder=lambda: FOUND, puller=lambda *a, **k: "")
    dialog = ModelDialog(RecognizerChoice(), models=models)
    qtbot.addWidget(dialog)
    tree = models.tree
    # Then they are listed with kind, size and metadata, and the recommended model is named
    assert tree.topLevelItemCount() == 2
    rows = [[tree.topLevelItem(i).text(c) for c in range(4)] for i in range(2)]
    assert rows[0][:3] == ["model", "Qwen/Qwen2-VL-2B-Instruct", "4.42 GB"]
    assert rows[1][0] == "adapter" and "raf_compound" in rows[1][3] and "/cache/qwen" in rows[1][3]
    from cer_desktop.recognition.lvlm.catalog import CURATED, recommended

    assert recommended().model_id in models.recommended_label.text()
    # and the curated list shows every entry; a click puts its id in the download field
    curated = models.curated
    assert curated.topLevelItemCount() == len(CURATED)
    first = curated.topLevelItem(0)
    assert [first.text(c) for c in range(5)] == [
        CURATED[0].model_id,
        f"{CURATED[0].disk_gb:.1f} GB",
        f"{CURATED[0].min_memory_gb:.1f} GB",
        CURATED[0].licence,
        "in full",
    ]
    curated.itemClicked.emit(curated.topLevelItem(3), 0)
    assert models.download_id.text() == CURATED[3].model_id
    # When the user picks the adapter, then it and its base fill the choice
    models.tree.itemClicked.emit(tree.topLevelItem(1), 0)
    assert dialog.choice().adapter == "/adapters/stage2" and dialog.choice().base == "/cache/qwen"


def test_a_download_reports_progress_and_can_be_cancelled(qtbot):
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def puller(model_id, *, progress, cancel):
        calls.append(model_id)
        progress(0.25, "1 of 4 files")
        started.set()
        release.wait(5)
        if cancel.is_set():
            raise RuntimeError("download of some/model cancelled")
        progress(1.0, "4 of 4 files")
        return "/cache/some-model"

    found: list[LocalModel] = []
    models = ModelList(finder=lambda: list(found), puller=puller)
    qtbot.addWidget(models)
    assert "No local models" in models.status.text()
    # When a download starts
    models.download_id.setText("some/model")
    models.download_button.click()
    assert started.wait(5) and calls == ["some/model"]
    qtbot.waitUntil(lambda: models.progress.value() == 25, timeout=5000)
    assert not models.progress.isHidden() and not models.download_button.isEnabled()
    # And the user cancels it
    models.cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: models.download is None, timeout=5000)
    assert "cancelled" in models.status.text() and models.download_button.isEnabled()
    # When a second download runs to its end, then the list is refreshed
    release.clear()
    started.clear()
    found.append(FOUND[0])
    models.download_button.click()
    assert started.wait(5)
    release.set()
    qtbot.waitUntil(lambda: models.download is None, timeout=5000)
    assert "/cache/some-model" in models.status.text() and models.tree.topLevelItemCount() == 1
