"""The answers the transport reads: status and headers first, then the body within a cap.

:class:`Direct` is http.client's response on a connection of the origin's urllib3 pool (the path
without a proxy), :class:`Pooled` urllib3's own (through a proxy). Both read an identity body with
http.client (no more than its Content-Length, refused unread when that is over the cap; else counted
chunk by chunk) and hand an encoded body to urllib3, which decodes gzip, deflate and zstd as it
streams: the count is taken after decompression.

:class:`LeanResponse` is http.client's response with the header block parsed without the email
package, which costs a third of a whole request's CPU (about 30 of 95 us for a bare GET).
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Mapping
from typing import Any

_CHUNK = 64 * 1024


class TooLarge(Exception):
    """The body passed the cap."""


class Reply:
    """An answer whose body is not read yet (the status and headers are)."""

    status: int
    reason: str
    headers: Mapping[str, str]

    def header(self, name: str) -> str:
        return str(self.headers.get(name) or "")

    def cookies(self) -> tuple[str, ...]:
        raise NotImplementedError

    def read(self, cap: int) -> bytes:
        """The whole decoded body, or TooLarge as soon as it passes ``cap`` bytes."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the connection back for the next request (the body has been read to its end)."""
        raise NotImplementedError

    def drop(self) -> None:
        """Close the connection (unread data or a broken stream) and give it back."""
        raise NotImplementedError

    def finish(self, limit: int) -> None:
        """Read what is left of the body if it is at most ``limit`` bytes (the connection is then
        reused), else drop the connection."""
        try:
            self.read(limit)
        except Exception:
            self.drop()
            return
        self.release()


class Direct(Reply):
    """http.client's response on a connection of the origin's pool (the direct path)."""

    def __init__(self, pool: Any, conn: Any, response: http.client.HTTPResponse, method: str) -> None:
        self._pool = pool
        self._conn = conn
        self._response = response
        self._method = method
        self.status = response.status
        self.reason = response.reason
        self.headers = response.msg  # type: ignore[assignment]  # case-insensitive, like a Mapping

    def cookies(self) -> tuple[str, ...]:
        return tuple(self._response.msg.get_all("Set-Cookie") or ())

    def read(self, cap: int) -> bytes:
        response = self._response
        if response.msg.get("Content-Encoding"):  # urllib3 decodes (gzip, deflate, zstd) as it streams
            return stream_capped(self._decoding(), cap)
        if response.length is not None:  # a Content-Length and not chunked: http.client reads no more
            if response.length > cap:
                raise TooLarge
            return response.read()  # one read
        # Chunked, or up to the end of the connection: counted as it comes.
        return _capped(iter(lambda: response.read(_CHUNK), b""), cap)

    def _decoding(self) -> Any:
        from urllib3.response import HTTPResponse

        response = self._response
        return HTTPResponse(
            body=response,
            headers=response.msg.items(),  # type: ignore[arg-type]
            status=response.status,
            version=response.version,
            reason=response.reason,
            preload_content=False,
            decode_content=True,
            original_response=response,
            request_method=self._method,
        )

    def release(self) -> None:
        self._pool._put_conn(self._conn)

    def drop(self) -> None:
        self._response.close()
        self._conn.close()
        self._pool._put_conn(self._conn)


class Pooled(Reply):
    """urllib3's response (the path through a proxy)."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason or ""
        self.headers = response.headers

    def cookies(self) -> tuple[str, ...]:
        return tuple(self._response.headers.getlist("Set-Cookie"))

    def read(self, cap: int) -> bytes:
        declared = self.header("Content-Length")
        framed = declared.isdigit() and "Transfer-Encoding" not in self.headers
        if framed and not self.header("Content-Encoding"):
            if int(declared) > cap:
                raise TooLarge
            # Not encoded, not chunked (which overrides the length): http.client reads no more than
            # the declared length, so one read is bounded.
            data: bytes = self._response.read()
            return data
        return stream_capped(self._response, cap)

    def release(self) -> None:
        self._response.release_conn()

    def drop(self) -> None:
        self._response.close()
        self._response.release_conn()


def stream_capped(response: Any, cap: int) -> bytes:
    """urllib3's decoded stream, counted chunk by chunk: TooLarge as soon as it passes ``cap``."""
    return _capped(response.stream(_CHUNK, decode_content=True), cap)


def _capped(chunks: Iterable[bytes], cap: int) -> bytes:
    """The chunks joined, or TooLarge as soon as they pass ``cap`` bytes (nothing after is read)."""
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise TooLarge
        kept.append(chunk)
    return b"".join(kept)


_MAX_LINE = 65536  # http.client's limits on one header line and on the number of headers
_MAX_HEADERS = 100


class LeanResponse(http.client.HTTPResponse):
    """http.client's response, its header block parsed without the email package.

    :meth:`begin` is ``http.client.HTTPResponse.begin`` (CPython 3.11-3.13) with ``parse_headers``
    replaced: each line ``name: value`` is stored as it is (:meth:`email.message.Message.set_raw`), so
    the result is the same :class:`http.client.HTTPMessage` (case-insensitive, duplicates kept) and the
    framing that follows (chunked, Content-Length, will_close) is decided by the same rules. The same
    limits hold (65536 bytes a line, 100 headers); a line that is not a header (no colon, or a folded
    continuation, obsolete since RFC 7230) is refused instead of ending the header block.
    tests/jenkins/test_replies.py compares both parsers on generated header blocks.
    """

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_header_block(self.fp)  # the headers of a 100 Continue: skipped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        message = http.client.HTTPMessage()
        for name, value in _read_header_block(self.fp):
            message.set_raw(name, value)
        self.headers = self.msg = message
        encoding = message.get("transfer-encoding")
        self.chunked = bool(encoding) and encoding.lower() == "chunked"
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = message.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if status in (204, 304) or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


def _read_header_block(fp: Any) -> list[tuple[str, str]]:
    """(name, value) of each header line up to the blank line."""
    headers: list[tuple[str, str]] = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return headers
        if len(headers) >= _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if not colon or not name or name[0] in " \t" or name != name.rstrip():
            raise http.client.HTTPException("a header line that is not 'name: value'")
        headers.append((name, value.lstrip(" \t").rstrip("\r\n")))  # as the email package stores it
