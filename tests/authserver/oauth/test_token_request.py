"""Reading token requests: form and JSON bodies, content types, query (RFC 6749 §3.1, §3.2)."""

from __future__ import annotations

import json

import pytest

from timesheets.authserver.oauth.errors import InvalidRequest
from timesheets.authserver.oauth.token_request import (
    MAX_FIELDS,
    TokenRequest,
    media_type,
    parse_form,
    parse_json,
    parse_token_request,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

REPEATED = r"parameter {} is repeated \(RFC 6749 3\.1\)"
BAD_FORM = "the request body is not valid form-encoded UTF-8"
BAD_JSON = "the request body is not a valid JSON object"
NOT_OBJECT = "the request body must be a JSON object of parameters"
NOT_UTF8 = "the request body must be UTF-8"
WRONG_TYPE = r"the request body must be application/x-www-form-urlencoded \(RFC 6749 3\.2\)"
IN_URI = "credentials must not be sent in the request URI"


def form(body: bytes, query: str = "") -> TokenRequest:
    """Parse a form-encoded body through the public entry point."""
    return parse_token_request(FORM, body, query)


def as_json(document: object) -> bytes:
    """A JSON request body."""
    return json.dumps(document).encode()


# --- application/x-www-form-urlencoded -----------------------------------------------------


def test_form_parameters_are_percent_and_plus_decoded() -> None:
    request = form(
        b"grant_type=client_credentials&scope=read%3Aa+write%3Aa"
        b"&audience=https%3A%2F%2Fapi.example&client_id=caf%C3%A9"
    )
    assert dict(request.params) == {
        "grant_type": "client_credentials",
        "scope": "read:a write:a",
        "audience": "https://api.example",
        "client_id": "caf\u00e9",
    }
    assert request.resources == ()


def test_get_returns_the_value_or_none() -> None:
    request = form(b"grant_type=client_credentials")
    assert request.get("grant_type") == "client_credentials"
    assert request.get("scope") is None


def test_empty_body_is_an_empty_request() -> None:
    request = form(b"")
    assert dict(request.params) == {}
    assert request.resources == ()


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&scope=",
        b"scope=&grant_type=client_credentials",
        b"grant_type=client_credentials&scope=&resource=",
    ],
)
def test_parameters_without_a_value_are_treated_as_omitted(body: bytes) -> None:
    """RFC 6749 §3.1: parameters sent without a value are treated as if omitted."""
    request = form(body)
    assert request.get("scope") is None
    assert "scope" not in request.params
    assert request.resources == ()
    assert request.get("grant_type") == "client_credentials"


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"grant_type=client_credentials&grant_type=client_credentials", "grant_type"),
        (b"grant_type=a&grant_type=b", "grant_type"),
        (b"client_id=a&scope=x&client_id=b", "client_id"),
        (b"client_secret=a&client_secret=b", "client_secret"),
        (b"scope=a&scope=b", "scope"),
        (b"audience=x&audience=y", "audience"),
        (b"unknown=1&unknown=2", "unknown"),
        # The same name spelled with a percent-escape is still the same parameter.
        (b"grant_type=a&grant%5Ftype=b", "grant_type"),
    ],
)
def test_repeated_parameters_are_invalid_request(body: bytes, name: str) -> None:
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once."""
    with pytest.raises(InvalidRequest, match=REPEATED.format(name)) as caught:
        form(body)
    assert caught.value.error == "invalid_request"
    assert caught.value.status_code == 400


def test_resource_may_repeat_and_keeps_its_order() -> None:
    """RFC 8707 §2: `resource` may be given several times."""
    request = form(
        b"grant_type=client_credentials&resource=https%3A%2F%2Fb.example"
        b"&resource=https%3A%2F%2Fa.example&resource=urn%3Ax"
    )
    assert request.resources == ("https://b.example", "https://a.example", "urn:x")
    assert "resource" not in request.params
    assert request.get("resource") is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"scope=\xff", id="raw-invalid-utf8"),
        pytest.param(b"scope=%FF", id="percent-encoded-invalid-utf8"),
        pytest.param(b"scope=%C3%28", id="percent-encoded-bad-continuation"),
        pytest.param(b"%FF=x", id="invalid-utf8-in-name"),
        pytest.param(b"\xc3", id="truncated-sequence"),
        pytest.param(b"scope=%ED%A0%80", id="encoded-surrogate"),
    ],
)
def test_invalid_utf8_is_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match=BAD_FORM):
        form(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"grant_type=x&&scope=y", id="empty-pair"),
        pytest.param(b"grant_type=x&scope", id="pair-without-equals"),
        pytest.param(b"&grant_type=x", id="leading-ampersand"),
        pytest.param(b"grant_type=x&", id="trailing-ampersand"),
        pytest.param(b"&", id="lone-ampersand"),
    ],
)
def test_malformed_pairs_are_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match=BAD_FORM):
        form(body)


def test_at_most_max_fields_are_accepted() -> None:
    body = "&".join(f"p{i}=v" for i in range(MAX_FIELDS)).encode()
    assert len(form(body).params) == MAX_FIELDS


def test_more_than_max_fields_is_invalid_request() -> None:
    body = "&".join(f"p{i}=v" for i in range(MAX_FIELDS + 1)).encode()
    with pytest.raises(InvalidRequest, match=BAD_FORM):
        form(body)


def test_parse_form_is_the_same_as_the_entry_point() -> None:
    body = b"grant_type=client_credentials&resource=urn%3Aa"
    assert parse_form(body) == form(body)


# --- application/json ------------------------------------------------------------------------


def test_json_object_of_strings_is_accepted() -> None:
    request = parse_token_request(
        JSON,
        as_json(
            {
                "grant_type": "client_credentials",
                "client_id": "abc",
                "client_secret": "s",
                "audience": "https://api.example",
            }
        ),
        "",
    )
    assert dict(request.params) == {
        "grant_type": "client_credentials",
        "client_id": "abc",
        "client_secret": "s",
        "audience": "https://api.example",
    }
    assert request.resources == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:a", ("urn:a",)),
        (["urn:a", "urn:b"], ("urn:a", "urn:b")),
        ([], ()),
        (["urn:a", ""], ("urn:a",)),
        ("", ()),
    ],
)
def test_json_resource_may_be_a_string_or_a_list_of_strings(
    value: object, expected: tuple[str, ...]
) -> None:
    """RFC 8707 §2: several resources; JSON carries them as a list."""
    request = parse_json(as_json({"grant_type": "client_credentials", "resource": value}))
    assert request.resources == expected
    assert "resource" not in request.params


def test_json_empty_string_is_treated_as_omitted() -> None:
    """RFC 6749 §3.1, applied to the JSON body."""
    request = parse_json(as_json({"grant_type": "client_credentials", "scope": ""}))
    assert request.get("scope") is None


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b'{"scope": "a", "scope": "b"}', "scope"),
        (b'{"scope": "a", "scope": "a"}', "scope"),
        (b'{"resource": "urn:a", "resource": "urn:b"}', "resource"),
        (b'{"grant_type": "x", "client_id": "a", "client_id": "b"}', "client_id"),
    ],
)
def test_json_duplicate_keys_are_invalid_request(body: bytes, name: str) -> None:
    """RFC 6749 §3.1 applied to JSON: a key given twice is a repeated parameter."""
    with pytest.raises(InvalidRequest, match=REPEATED.format(name)):
        parse_json(body)


@pytest.mark.parametrize(
    ("document", "name"),
    [
        ({"scope": 1}, "scope"),
        ({"scope": 1.5}, "scope"),
        ({"scope": True}, "scope"),
        ({"scope": None}, "scope"),
        ({"scope": {"a": "b"}}, "scope"),
        ({"scope": ["a", "b"]}, "scope"),
        ({"audience": ["urn:a"]}, "audience"),
        ({"resource": 1}, "resource"),
        ({"resource": ["urn:a", 1]}, "resource"),
        ({"resource": [["urn:a"]]}, "resource"),
        ({"resource": None}, "resource"),
    ],
)
def test_json_non_string_values_are_invalid_request(document: object, name: str) -> None:
    with pytest.raises(InvalidRequest, match=f"parameter {name} must be a string"):
        parse_json(as_json(document))


@pytest.mark.parametrize("document", [[], ["a"], "grant_type", 1, None, True])
def test_json_that_is_not_an_object_is_invalid_request(document: object) -> None:
    with pytest.raises(InvalidRequest, match=NOT_OBJECT):
        parse_json(as_json(document))


def test_json_with_more_than_max_fields_is_invalid_request() -> None:
    document = {f"p{i}": "v" for i in range(MAX_FIELDS + 1)}
    with pytest.raises(InvalidRequest, match=NOT_OBJECT):
        parse_json(as_json(document))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"{'scope': 'a'}", id="single-quotes"),
        pytest.param(b'{"scope": "a"} x', id="trailing-data"),
        pytest.param(b'{"scope": "\xff"}', id="invalid-utf8"),
        pytest.param(b"grant_type=client_credentials", id="form-body"),
    ],
)
def test_malformed_json_is_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match=BAD_JSON):
        parse_json(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="arrays"),
        pytest.param(b'{"a":' * 100_000 + b'"x"' + b"}" * 100_000, id="objects"),
        pytest.param(b'{"scope":' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="in-a-value"),
    ],
)
def test_deeply_nested_json_is_invalid_request_not_recursion_error(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match=BAD_JSON):
        parse_json(body)


# --- Content-Type ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        FORM,
        f"{FORM}; charset=utf-8",
        f"{FORM};charset=UTF-8",
        f'{FORM}; charset="utf-8"',
        "Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
    ],
)
def test_form_content_types_are_accepted(content_type: str) -> None:
    """RFC 6749 §3.2: the body is `application/x-www-form-urlencoded` (UTF-8, Appendix B)."""
    request = parse_token_request(content_type, b"grant_type=client_credentials", "")
    assert request.get("grant_type") == "client_credentials"


@pytest.mark.parametrize("content_type", [JSON, f"{JSON}; charset=utf-8", "APPLICATION/JSON"])
def test_json_content_types_are_accepted(content_type: str) -> None:
    request = parse_token_request(content_type, b'{"grant_type": "client_credentials"}', "")
    assert request.get("grant_type") == "client_credentials"


@pytest.mark.parametrize(
    "content_type",
    [
        f"{FORM}; charset=iso-8859-1",
        f"{FORM}; charset=latin1",
        f"{FORM}; charset=utf-16",
        f"{JSON}; charset=utf-16",
        f"{JSON}; charset=us-ascii",
    ],
)
def test_other_charsets_are_invalid_request(content_type: str) -> None:
    with pytest.raises(InvalidRequest, match=NOT_UTF8):
        parse_token_request(content_type, b"grant_type=client_credentials", "")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "text/plain; charset=utf-8",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        f"{FORM}x",
        "application/jsonx",
        "application/x-www-form-urlencoded, text/plain",
    ],
)
def test_other_or_missing_content_types_are_invalid_request(content_type: str | None) -> None:
    """RFC 6749 §3.2: the token endpoint takes form-encoded parameters."""
    with pytest.raises(InvalidRequest, match=WRONG_TYPE):
        parse_token_request(content_type, b"grant_type=client_credentials", "")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, ("", {})),
        ("", ("", {})),
        ("Text/Plain", ("text/plain", {})),
        (f"{FORM} ; Charset=UTF-8", (FORM, {"charset": "utf-8"})),
        ('a/b; x="Y"; z=1; flag', ("a/b", {"x": "y", "z": "1"})),
    ],
)
def test_media_type_lowercases_the_type_and_its_parameters(
    content_type: str | None, expected: tuple[str, dict[str, str]]
) -> None:
    assert media_type(content_type) == expected


# --- The request URI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "client_secret=s",
        "code_verifier=v",
        "refresh_token=r",
        "password=p",
        "client_secret=",
        "client_secret",
        "foo=1&client_secret=s",
        "client%5Fsecret=s",
    ],
)
def test_secrets_in_the_query_are_invalid_request(query: str) -> None:
    """RFC 6749 §2.3.1: client credentials MUST NOT be included in the request URI."""
    with pytest.raises(InvalidRequest, match=IN_URI):
        form(b"grant_type=client_credentials", query=query)


def test_secret_in_the_query_is_refused_whatever_the_body() -> None:
    with pytest.raises(InvalidRequest, match=IN_URI):
        parse_token_request("text/plain", b"\xff", "client_secret=s")


@pytest.mark.parametrize("query", ["", "client_id=abc", "scope=x&grant_type=password"])
def test_other_query_parameters_do_not_enter_the_request(query: str) -> None:
    """RFC 6749 §3.2: the token request's parameters travel in the body."""
    request = form(b"grant_type=client_credentials", query=query)
    assert dict(request.params) == {"grant_type": "client_credentials"}
