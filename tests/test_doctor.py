"""`cer doctor` reports what works on this machine."""

from __future__ import annotations

from cer_desktop.doctor import run_checks


def test_doctor_finds_the_libraries_and_a_face_on_the_test_photo() -> None:
    # Given this machine, which has every dependency installed and no camera,
    # when the doctor runs its checks,
    checks = {c.name: c for c in run_checks()}
    # then the libraries import, MediaPipe finds the face, and no camera is not a failure.
    bad = [f"{c.name}: {c.detail}" for c in checks.values() if not c.ok]
    assert not bad, bad
    assert "478 landmarks" in checks["face mesh"].detail
    assert checks["cameras"].ok
    # and every registered LVLM family is listed with its scoring path on this release
    from cer_desktop.testing.families import FAMILIES

    detail = checks["lvlm scoring"].detail
    for family in FAMILIES.values():
        assert f"{family.name}: " in detail, (family.name, detail)
    assert "Qwen3-VL: single-pass + prompt cache" in detail, detail
    assert "Qwen3.5: two-pass + prompt cache" in detail, detail  # linear attention: not BAD


def test_doctor_json_maps_every_family_to_its_scoring_path(capsys) -> None:
    import json

    from cer_desktop.cli import main
    from cer_desktop.testing.families import FAMILIES

    # when `cer doctor --json` runs
    code = main(["doctor", "--json"])
    # then its last line is one JSON object with every check and every family's path
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and report["ok"], report
    assert set(report["families"]) == set(FAMILIES)
    paths = {k: v["scoring_path"] for k, v in report["families"].items()}
    assert paths["qwen3_vl"] == "single-pass + prompt cache", paths
    assert paths["llava"] == "single-pass", paths
    # a family off the fastest path says why
    assert "image before the prompt text" in report["families"]["llava"]["reason"]
    assert paths["qwen3_5"] == "two-pass + prompt cache", paths
    assert "linear_attention" in report["families"]["qwen3_5"]["reason"]
    assert "reason" not in report["families"]["qwen2_vl"]
    assert {c["name"] for c in report["checks"]} >= {"python", "lvlm scoring", "face mesh"}


def test_doctor_says_which_dtype_an_lvlm_gets_on_the_cpu(monkeypatch) -> None:
    from cer_desktop.doctor import _torch_devices

    # given a CPU with native bf16 (as the probe or CER_CPU_BF16 says), then the doctor says bf16
    monkeypatch.setenv("CER_CPU_BF16", "1")
    assert _torch_devices().detail.startswith("cpu (bf16)")
    # and fp32 where bf16 would be emulated
    monkeypatch.setenv("CER_CPU_BF16", "0")
    assert _torch_devices().detail.startswith("cpu (fp32)")


def test_doctor_says_which_landmark_model_and_au_source_the_instant_tier_uses(
    monkeypatch, face_landmarker_task
) -> None:
    from cer_desktop.doctor import _au_source

    # with the face landmarker model found (scripts/install.sh fetches it), blendshape AUs
    found = _au_source()
    assert (
        found.ok and "blendshape AUs" in found.detail and str(face_landmarker_task) in found.detail
    )
    # and without it, the legacy face mesh's geometry AUs (not a failure: the app still works)
    monkeypatch.setenv("CER_FACE_LANDMARKER", "none")
    fallback = _au_source()
    assert fallback.ok and "legacy face mesh, geometry AUs" in fallback.detail
    # and it says which version of the instant tier reads them (its AUs change meaning)
    from cer_desktop.recognition.instant import INSTANT_VERSION

    assert found.detail.startswith(f"tier v{INSTANT_VERSION}, ")


def test_doctor_flags_a_family_off_the_fast_path_unless_its_layers_are_recurrent() -> None:
    from cer_desktop.doctor import _is_regression, _scoring_paths

    fast = {"name": "A", "scoring_path": "single-pass + prompt cache"}
    recurrent = {
        "name": "B",
        "scoring_path": "two-pass + prompt cache",
        "reason": "3 of 4 decoder layers are linear_attention (a recurrent state): ...",
    }
    broken = {
        "name": "C",
        "scoring_path": "two-pass",
        "reason": "its forward takes no position_ids",
    }
    failed = {"name": "D", "scoring_path": "error", "reason": "ValueError: boom"}
    assert not _is_regression(fast) and not _is_regression(recurrent)
    assert _is_regression(broken) and _is_regression(failed)
    # and the check names the reason of a regression, and fails
    check = _scoring_paths({"a": fast, "b": recurrent, "c": broken})
    assert not check.ok and "C: two-pass (its forward takes no position_ids)" in check.detail
    assert _scoring_paths({"a": fast, "b": recurrent}).ok
