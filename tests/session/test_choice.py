"""`RecognizerChoice`: one value from the settings, the command line and the dialog, and the
one place that turns it into a spec."""

from __future__ import annotations

import argparse

import pytest

from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.settings import AppSettings


def _parse(argv: list[str], *, device: bool = True) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    RecognizerChoice.add_arguments(p, device=device)
    p.add_argument("--concurrency", type=int, default=8)
    return p.parse_args(argv)


def test_the_settings_remember_a_choice_field_by_field():
    choice = RecognizerChoice("base/id", "/adapters/a", "nf4", 0.3, "", "", "")
    settings = AppSettings(**choice.settings_fields())
    assert RecognizerChoice.from_settings(settings) == choice


def test_command_line_options_and_the_dialog_give_the_same_spec():
    # given the same model named on the command line and picked in the dialog
    from_cli = RecognizerChoice.from_args(
        _parse(["--model", "base/id", "--adapter", "/ad", "--quant", "nf4"])
    )
    from_dialog = RecognizerChoice("base/id", "/ad", "nf4")
    # then they are one value and build one spec
    assert from_cli == from_dialog
    spec = from_cli.to_spec()
    assert (spec.base, spec.adapter, spec.quant, spec.device) == ("base/id", "/ad", "nf4", "auto")
    assert from_cli.describe() == "base/id + /ad [nf4]"


def test_options_override_the_saved_choice_and_nothing_named_keeps_it():
    saved = RecognizerChoice("saved/base", "/saved-adapter", "int8", 0.2)
    choice = RecognizerChoice.from_args(_parse(["--quant", "nf4"], device=False), default=saved)
    assert choice == RecognizerChoice("saved/base", "/saved-adapter", "nf4", 0.2)
    assert RecognizerChoice.from_args(_parse([], device=False), default=saved) is saved
    assert RecognizerChoice.from_args(_parse([])) is None, "nothing named: the instant tier"


def test_a_server_choice_builds_a_server_config_with_its_concurrency():
    args = _parse(["--server", "http://127.0.0.1:9", "--served-model", "m", "--concurrency", "3"])
    choice = RecognizerChoice.from_args(args)
    config = choice.to_spec()
    assert (config.url, config.model, config.in_flight) == ("http://127.0.0.1:9/v1", "m", 3)
    assert choice.wants_model and choice.describe() == "remote: m @ http://127.0.0.1:9"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--server", "http://x", "--served-model", "m", "--model", "b"], "exclude each other"),
        (["--adapter", "/ad"], "--adapter needs --model"),
    ],
)
def test_options_that_exclude_each_other_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        RecognizerChoice.from_args(_parse(argv))


def test_no_model_is_the_instant_tier():
    choice = RecognizerChoice()
    assert not choice.wants_model and choice.to_spec() is None
    assert choice.describe() == "instant (no model)"
