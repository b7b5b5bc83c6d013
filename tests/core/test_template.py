"""dispatchMetadataTemplate: validation on save, rendering per call, and the merge rule."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.core import template
from router.errors import ValidationError

VALUES = {
    "callerNumber": "+14155550100",
    "dialedNumber": "+12015550123",
    "forwardedFromNumber": None,
    "callId": "SCL_1",
    "provider": "livekit",
    "phoneNumberId": "pn_1",
    "agentId": "ag_1",
    "label": "Desk",
}


def test_every_token_renders():
    tpl = {t: "{{%s}}" % t for t in sorted(template.TOKENS)}  # noqa: UP031
    assert template.render(tpl, VALUES) == VALUES


def test_whole_token_null_is_null_and_embedded_null_is_empty():
    tpl = {"a": "{{forwardedFromNumber}}", "b": "fwd:{{forwardedFromNumber}}:end"}
    assert template.render(tpl, VALUES) == {"a": None, "b": "fwd::end"}


def test_keys_and_non_strings_pass_through():
    tpl = {"{{callId}}": [1, 2.5, True, None, {"k": "{{ label }}"}]}
    assert template.render(tpl, VALUES) == {"{{callId}}": [1, 2.5, True, None, {"k": "Desk"}]}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "x",
        {"a": "{{nope}}"},
        {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
        {"a": "x" * (template.MAX_BYTES + 1)},
        {"a": list(range(template.MAX_NODES + 1))},
    ],
)
def test_invalid_templates_are_refused(bad):
    with pytest.raises(ValidationError) as err:
        template.validate(bad)
    assert err.value.field == "dispatchMetadataTemplate"


def test_merge_is_recursive_for_objects_and_template_wins_elsewhere():
    base = {"agent": {"prompt": "p", "tools": [1]}, "callerNumber": "+1", "keep": 1}
    over = {"agent": {"tools": [2], "extra": True}, "callerNumber": None}
    assert template.merge(base, over) == {
        "agent": {"prompt": "p", "tools": [2], "extra": True},
        "callerNumber": None,
        "keep": 1,
    }
    assert base["agent"] == {"prompt": "p", "tools": [1]}  # inputs untouched


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_token_text = st.lists(
    st.sampled_from([*(f"{{{{{t}}}}}" for t in sorted(template.TOKENS)), "a", " ", "{", "}"]),
    max_size=6,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json | _token_text, max_size=6))
def test_rendering_valid_templates_never_raises_and_leaves_no_known_token(tpl):
    try:
        template.validate(tpl)
    except ValidationError:
        return
    rendered = template.render(tpl, VALUES)
    text = msgspec.json.encode(list(rendered.values())).decode()
    assert not any(f"{{{{{t}}}}}" in text for t in template.TOKENS)
    assert list(rendered) == list(tpl)
