"""docs/configuration.md is the rendering of the settings classes."""

from pathlib import Path

from timesheets.configuration_doc import render

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    assert DOC.read_text() == render(), (
        "regenerate: python -m timesheets.configuration_doc > docs/configuration.md"
    )


def test_every_setting_is_described() -> None:
    assert "|  |" not in render()
