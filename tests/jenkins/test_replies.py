"""LeanResponse parses a response head as http.client does (same HTTPMessage, same framing), with the
same limits, and refuses what is not a header line instead of ending the header block there."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.jenkins.replies import LeanResponse

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
FRAMING = [
    "Content-Length",
    "content-length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
]


class _Socket:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))


def parsed(cls: type[http.client.HTTPResponse], head: bytes, method: str = "GET") -> tuple[object, ...]:
    response = cls(_Socket(head), method=method)  # type: ignore[arg-type]
    response.begin()
    return (
        response.status,
        response.reason,
        response.version,
        list(response.msg.items()),
        response.msg.get_all("Set-Cookie"),
        response.chunked,
        response.length,
        response.will_close,
    )


names = st.one_of(st.sampled_from(FRAMING), st.text(TOKEN_CHARS, min_size=1, max_size=20))
values = st.one_of(
    st.sampled_from(
        ["chunked", "CHUNKED", "close", "keep-alive", "Keep-Alive", "0", "12", "-3", " 7 ", "1_0", "x", ""]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters=":"), max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([100, 200, 204, 302, 304, 404, 500]),
    version=st.sampled_from(["HTTP/1.1", "HTTP/1.0"]),
    headers=st.lists(st.tuples(names, values), max_size=12),
    method=st.sampled_from(["GET", "POST", "HEAD"]),
    blank=st.sampled_from([" ", "", "\t"]),
)
def test_the_same_message_and_framing_as_http_client(
    status: int, version: str, headers: list[tuple[str, str]], method: str, blank: str
) -> None:
    lines = "".join(f"{name}:{blank}{value}\r\n" for name, value in headers)
    continue_head = "HTTP/1.1 100 Continue\r\nX-A: b\r\n\r\n" if status == 100 else ""
    final = 200 if status == 100 else status
    head = f"{continue_head}{version} {final} Some Reason\r\n{lines}\r\n".encode("latin-1")
    assert parsed(LeanResponse, head, method) == parsed(http.client.HTTPResponse, head, method)


def test_a_body_is_read_after_the_lean_head() -> None:
    response = LeanResponse(_Socket(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello+junk"), method="GET")  # type: ignore[arg-type]
    response.begin()
    assert response.read() == b"hello"


@pytest.mark.parametrize(
    "line",
    [b"no colon here", b" folded: continuation", b"Name : space before the colon", b": no name"],
)
def test_a_line_that_is_not_a_header_is_refused(line: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + line + b"\r\n\r\n"
    with pytest.raises(http.client.HTTPException, match="not 'name: value'"):
        LeanResponse(_Socket(head), method="GET").begin()  # type: ignore[arg-type]


def test_the_limits_of_http_client_hold() -> None:
    too_many = b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        LeanResponse(_Socket(too_many), method="GET").begin()  # type: ignore[arg-type]
    too_long = b"HTTP/1.1 200 OK\r\nX-A: " + b"b" * 70000 + b"\r\n\r\n"
    with pytest.raises(http.client.LineTooLong):
        LeanResponse(_Socket(too_long), method="GET").begin()  # type: ignore[arg-type]
