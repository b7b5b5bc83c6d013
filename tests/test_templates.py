"""The example dispatch templates in templates/dispatch (shipped as router.templates) validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.core import template

EXAMPLES = sorted((Path(__file__).parent.parent / "templates" / "dispatch").glob("*.json"))


def test_examples_exist():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_dispatch_templates_validate(path):
    template.validate(json.loads(path.read_text()))
