"""Diversion (RFC 5806) and History-Info (RFC 7044 / RFC 4458) → forwardedFromNumber and chain."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.core import forwarding
from router.core.sipheaders import parse_list, parse_uri, split_entries


def test_no_headers_means_not_forwarded():
    assert forwarding.compute(sip_headers={}) == forwarding.NOT_FORWARDED


def test_diversion_bottom_most_entry_is_the_original_redirection():
    value = (
        '"Carrier" <sip:+13125550188@carrier.example;user=phone>;reason=no-answer;counter=1, '
        "<tel:+1-617-555-0177>;reason=unconditional;counter=2"
    )
    result = forwarding.compute(sip_headers={"Diversion": value})
    assert result.number == "+16175550177"
    assert result.source == "diversion"
    assert [(h.number, h.reason, h.counter) for h in result.chain] == [
        ("+16175550177", "unconditional", 2),
        ("+13125550188", "no-answer", 1),
    ]


def test_diversion_privacy_full_withholds_the_original():
    value = "<sip:+13125550188@c.example>;reason=busy, <sip:+16175550177@b.example>;privacy=full"
    result = forwarding.compute(sip_headers={"diversion": value})
    assert result.number is None
    assert result.withheld is True
    assert result.chain[0].withheld is True
    assert result.chain[0].number is None  # never stored, not only not reported
    assert result.chain[1].number == "+13125550188"


def test_diversion_privacy_name_keeps_the_number():
    result = forwarding.compute(sip_headers={"diversion": "<sip:+16175550177@b>;privacy=name"})
    assert result.number == "+16175550177"


def test_anonymous_diversion_is_withheld():
    value = "<sip:anonymous@anonymous.invalid>;reason=unconditional"
    result = forwarding.compute(sip_headers={"diversion": value})
    assert (result.number, result.withheld) == (None, True)


def test_national_format_and_region():
    result = forwarding.compute(sip_headers={"diversion": "<sip:6175550177@pbx>"}, region="US")
    assert result.number == "+16175550177"
    uk = forwarding.compute(sip_headers={"diversion": "<sip:02079460958@pbx>"}, region="GB")
    assert uk.number == "+442079460958"


def test_garbage_entry_is_kept_without_a_number_and_skipped():
    value = "<sip:+13125550188@c.example>, <sip:reception@pbx.local>"
    result = forwarding.compute(sip_headers={"diversion": value})
    assert result.chain[0].number is None
    assert result.number == "+13125550188"


def test_history_info_mp_and_cause_name_the_redirecting_parties():
    value = (
        "<sip:+16175550177@biz.example?Reason=SIP%3Bcause%3D486>;index=1,"
        "<sip:+13125550188@carrier.example;cause=486>;index=1.1;mp=1,"
        "<sip:+12015550123@us.example;cause=302>;index=1.1.1;mp=1.1"
    )
    result = forwarding.compute(sip_headers={"History-Info": value})
    assert result.number == "+16175550177"
    assert result.source == "history-info"
    assert [(h.number, h.reason, h.index) for h in result.chain] == [
        ("+16175550177", "user-busy", "1"),
        ("+13125550188", "unconditional", "1.1"),
    ]


def test_history_info_rc_is_a_contact_of_the_same_user_not_forwarding():
    value = "<sip:+16175550177@biz.example>;index=1,<sip:+16175550177@10.0.0.7:5060>;index=1.1;rc=1"
    assert forwarding.compute(sip_headers={"history-info": value}).chain == []


def test_history_info_follows_the_path_to_the_last_entry_not_failed_branches():
    value = (
        "<sip:+16175550177@a>;index=1,"
        "<sip:+13125550100@b;cause=408>;index=1.1;mp=1,"  # tried first, no answer
        "<sip:+12015550123@c;cause=302>;index=1.2;mp=1"  # the branch that reached us
    )
    result = forwarding.compute(sip_headers={"history-info": value})
    assert [h.number for h in result.chain] == ["+16175550177"]
    assert result.chain[0].reason == "unconditional"


def test_history_info_privacy_is_respected():
    value = (
        "<sip:+16175550177@a?Privacy=history>;index=1,<sip:+12015550123@c;cause=302>;index=1.1;mp=1"
    )
    result = forwarding.compute(sip_headers={"history-info": value})
    assert (result.number, result.withheld) == (None, True)
    plain = "<sip:+16175550177@a>;index=1,<sip:+12015550123@c;cause=302>;index=1.1;mp=1"
    hidden = forwarding.compute(sip_headers={"history-info": plain, "privacy": "history"})
    assert hidden.withheld is True


def test_history_info_tel_uris_and_legacy_lists_without_tags():
    value = "<tel:+16175550177>;index=1,<tel:+12015550123>;index=1.1"
    assert forwarding.compute(sip_headers={"history-info": value}).number == "+16175550177"


def test_diversion_wins_over_history_info_and_provider_field_wins_over_both():
    headers = {
        "diversion": "<sip:+16175550177@b>",
        "history-info": "<sip:+13125550188@a>;index=1,<sip:+1@c;cause=302>;index=1.1;mp=1",
    }
    assert forwarding.compute(sip_headers=headers).number == "+16175550177"
    result = forwarding.compute(provider_number="+14155550111", sip_headers=headers)
    assert (result.number, result.source) == ("+14155550111", "provider")
    assert [h.number for h in result.chain] == ["+14155550111", "+16175550177"]


def test_sip_list_splitting_respects_quotes_and_brackets():
    value = '"Smith, John" <sip:+1@a;x=1,2>;p=1, <sip:+2@b>'
    assert split_entries(value) == ['"Smith, John" <sip:+1@a;x=1,2>;p=1', "<sip:+2@b>"]


def test_uri_parsing_drops_passwords_and_reads_params_and_headers():
    uri = parse_uri(
        "sip:+16175550177;npdi:secret@host.example;cause=302;user=phone?Privacy=history"
    )
    assert uri is not None
    assert uri.user == "+16175550177"
    assert uri.params == {"cause": "302", "user": "phone"}
    assert uri.headers == {"privacy": "history"}
    assert parse_uri("http://example.com") is None


def test_control_characters_and_oversized_headers_are_not_parsed():
    assert parse_list("<sip:+16175550177@a>\r\nX-Evil: 1") == []
    assert parse_list("<sip:+16175550177@a>," * 2000) == []


# ---- properties -----------------------------------------------------------------------------

_valid_numbers = st.sampled_from(
    ["+16175550177", "+13125550188", "+14155550100", "+442079460958", "+33142685300"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_never_raises_and_never_invents_numbers(text):
    for name in ("diversion", "history-info"):
        result = forwarding.compute(sip_headers={name: text, "privacy": text})
        if result.number is not None:
            digits = result.number.lstrip("+")
            assert digits[-6:] in "".join(c for c in text if c.isdigit())


@settings(max_examples=200, deadline=None)
@given(st.lists(_valid_numbers, min_size=1, max_size=6), st.booleans())
def test_diversion_original_is_always_the_bottom_entry(numbers, tel):
    entries = [
        (f"<tel:{n}>" if tel else f"<sip:{n}@host.example;user=phone>") + f";counter={i + 1}"
        for i, n in enumerate(numbers)
    ]
    result = forwarding.compute(sip_headers={"diversion": ", ".join(entries)})
    assert result.number == numbers[-1]
    assert [h.number for h in result.chain] == list(reversed(numbers))


@settings(max_examples=200, deadline=None)
@given(st.lists(_valid_numbers, min_size=2, max_size=6, unique=True))
def test_history_info_original_is_the_root_of_a_mapped_chain(numbers):
    entries, index = [], "1"
    for i, n in enumerate(numbers):
        if i == 0:
            entries.append(f"<sip:{n}@h>;index=1")
        else:
            parent, index = index, f"{index}.1"
            entries.append(f"<sip:{n}@h;cause=302>;index={index};mp={parent}")
    result = forwarding.compute(sip_headers={"history-info": ",".join(entries)})
    assert result.number == numbers[0]
    assert [h.number for h in result.chain] == numbers[:-1]


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("404", "unknown"),
        ("486", "user-busy"),
        ("408", "no-answer"),
        ("302", "unconditional"),
        ("487", "deflection-during-alerting"),
        ("480", "deflection-immediate-response"),
        ("503", "mobile-subscriber-not-reachable"),
        ("410", "410"),  # not an RFC 4458 value: kept as it came, not given a meaning
    ],
)
def test_rfc_4458_causes_carry_the_rfc_table_reason(cause, reason):
    value = f"<sip:+16175550177@a>;index=1,<sip:+12015550123@c;cause={cause}>;index=1.1"
    [hop] = forwarding.history_info_hops(value, "US")
    assert (hop.number, hop.reason) == ("+16175550177", reason)


# What LiveKit passes on of a History-Info sent as one entry per header line: only the last
# line (LiveKit keeps the last value of a repeated header), i.e. the current target alone.
_FULL = (
    "<sip:+16175550177@pbx.example>;index=1,"
    "<sip:+12015550123@carrier.example;cause=302>;index=1.1;mp=1"
)
_LAST_LINE_ONLY = "<sip:+12015550123@carrier.example;cause=302>;index=1.1;mp=1"


@pytest.mark.parametrize(
    ("value", "truncated"),
    [
        (_FULL, False),
        (_LAST_LINE_ONLY, True),  # the child without its parent
        ("<sip:+12015550123@c>;index=1", False),  # a single entry: the root, not forwarded
        ("<sip:+1@a>;index=1,<sip:+2@b>;index=1.1.1;mp=1.1", True),  # 1.1 missing
        ("<sip:+16175550177@a>,<sip:+12015550123@c>", False),  # RFC 4244 style: no indexes
    ],
)
def test_a_history_info_chain_cut_short_is_marked_not_reported_as_fact(value, truncated):
    result = forwarding.compute(sip_headers={"History-Info": value})
    assert result.chain_truncated is truncated
    if truncated:
        assert result.number is None  # unknown, and said to be unknown
    if value == _FULL:
        assert result.number == "+16175550177"
