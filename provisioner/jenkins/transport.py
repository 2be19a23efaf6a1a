"""One urllib3 pool to one Jenkins; every answer bounded in size, in time and in where it may lead.

What Jenkins (or whatever answers in its place: a proxy, a login page) returns is untrusted:

- **Size.** Bodies are streamed in chunks and counted *after* decompression (urllib3 decodes gzip,
  deflate and zstd as it streams, a chunk at a time), so neither a huge body nor a small gzip bomb is
  ever held whole: past the request's cap the read stops with a :class:`JenkinsFailure`.
- **Time.** Every request has a deadline (``RetryPolicy.timeout``) covering connect, TLS, headers and
  body. A per-read timeout alone does not bound a request: a server dripping one byte a second never
  trips it. So a watchdog thread (:mod:`.watchdog`) shuts the socket down when the deadline passes;
  the socket timeouts are never longer than what remains.
- **Redirects** are never followed automatically. A 3xx to another scheme, host or port is a
  :class:`JenkinsFailure` on any request (a proxy or an attacker sending us, with our credentials,
  elsewhere). A GET redirected on the same Jenkins is followed, at most ``MAX_REDIRECTS`` hops within the
  one deadline; a POST answered with a same-Jenkins 3xx is done (Jenkins's own "go to the job page"
  after disable or doDelete) and is not followed.

urllib3's pool makes and keeps the connections (keep-alive, one connection per thread, TLS
verification always on, a connection the server closed is dropped before reuse, no retries of its
own): the requests + python-jenkins stack cost about 0.3 ms of CPU per request more. Without a proxy
the transport writes each request itself on a connection taken from that pool
(``_get_conn``/``_put_conn``), in one send: the request line (a target with blanks, controls or
non-ASCII is refused), Host, ``Accept-Encoding: identity``, the caller's headers (tokens; values
without line breaks) and Content-Length, as http.client would write them; the head of the answer is
parsed by :class:`~.replies.LeanResponse` and its body read by :mod:`.replies`. urllib3's and
http.client's request layers cost more CPU than the whole rest of a request (bench/profile_http.py:
0.24 -> 0.08 ms of CPU per GET). Through a proxy, urllib3 sends the request itself (absolute URLs,
the CONNECT tunnel, proxy headers).
"""

from __future__ import annotations

import http.client
import os
import re
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from provisioner.errors import JenkinsFailure
from provisioner.jenkins.replies import Direct, LeanResponse, Pooled, Reply, TooLarge
from provisioner.jenkins.retry import Transient
from provisioner.jenkins.watchdog import Watchdog, watched_pool_classes

MiB = 1024 * 1024
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_ERROR_BODY = 64 * 1024  # an error page is read this far (for keep-alive), else the connection is dropped


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    set_cookies: tuple[str, ...] = ()
    reason: str = ""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), read once."""
    proxies = urllib.request.getproxies_environment()
    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    proxy: str | None = proxies.get(urlsplit(url).scheme)
    return proxy


class Transport:
    """Requests to one Jenkins (``base_url``); thread-safe. One attempt per call: retries are the caller's."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        timeout: float,
        ca_bundle: Path | None = None,
        pool_size: int = 10,
    ) -> None:
        import urllib3

        self.base_url = base_url
        self._label = label
        self._origin = origin(base_url)
        self._timeout = timeout
        self._watchdog = Watchdog()
        options: dict[str, Any] = {
            "num_pools": 2,
            "maxsize": max(pool_size, 1),
            "block": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        }
        if self._origin[0] == "https":
            import certifi

            # A bundle from the environment as requests would take it; verification is never turned off.
            env_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            options.update(
                cert_reqs="CERT_REQUIRED",
                ca_certs=str(ca_bundle) if ca_bundle is not None else env_bundle or certifi.where(),
            )
        proxy = _proxy_for(base_url)
        self.pool: Any = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        self.pool.pool_classes_by_scheme = watched_pool_classes(self._watchdog, LeanResponse)
        # Every request goes to this one origin (a redirect elsewhere is refused), so without a proxy
        # the origin's connection pool is taken once: the manager would parse the URL and look the
        # pool up again on every request (measured: 0.29 -> 0.21 ms of CPU per GET).
        self._direct: Any = None if proxy else self.pool.connection_from_url(base_url)
        self._base_path = urlsplit(base_url).path or "/"
        scheme, host, port = self._origin
        host = f"[{host}]" if ":" in host else host if host.isascii() else host.encode("idna").decode()
        netloc = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        self._host = b"Host: %s\r\nAccept-Encoding: identity\r\n" % netloc.encode("ascii")
        self._fields: dict[tuple[tuple[str, str], ...], bytes] = {}  # headers -> their lines, encoded
        self._timeout_class: Any = urllib3.Timeout
        self._network_errors = (urllib3.exceptions.HTTPError, *_NETWORK_ERRORS)

    def request(
        self,
        method: str,
        path: str,
        *,
        cap: int,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: bool = False,
    ) -> Answer:
        """One request to ``base_url + path``; the body read up to ``cap`` decoded bytes, and with
        ``cookies`` the Set-Cookie headers.

        Raises :class:`~provisioner.jenkins.retry.Transient` when the deadline passes, JenkinsFailure
        for an answer too large or a redirect off this Jenkins, urllib3 errors for the network.
        """
        end = self._watchdog.start(self._timeout)
        try:
            answer = self._exchange(method, path, cap, body, headers or {}, end, cookies)
        except self._network_errors as exc:
            # The watchdog cut the connection (or the last read timed out with the deadline).
            if time.monotonic() >= end:
                raise Transient(f"no complete answer within {self._timeout:g} s") from None
            translated = _translated(exc)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            cut = self._watchdog.stop()
        if cut:  # a body delimited by the connection's end looks complete when the watchdog cut it
            raise Transient(f"no complete answer within {self._timeout:g} s")
        return answer

    def _exchange(
        self,
        method: str,
        path: str,
        cap: int,
        body: bytes | None,
        headers: Mapping[str, str],
        end: float,
        cookies: bool,
    ) -> Answer:
        url = self.base_url + path
        target = self._base_path + path  # the request target of the first hop (same origin)
        for _hop in range(MAX_REDIRECTS + 1):
            reply = self._open(method, url, target, body, headers, end)
            if reply.status not in REDIRECT_STATUSES:
                return self._answer(reply, cap, method, path, cookies)
            url = self._redirect_target(reply, url, f"{method} {path}")
            if method != "GET":
                return Answer(reply.status, reply.headers, b"")  # done; not followed
            parts = urlsplit(url)  # same origin as base_url: checked by _redirect_target
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        raise JenkinsFailure(
            f"{method} {path}: Jenkins at {self._label} redirected more than {MAX_REDIRECTS} times"
        )

    def _open(
        self,
        method: str,
        url: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
        end: float,
    ) -> Reply:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise Transient(f"no complete answer within {self._timeout:g} s")
        if self._direct is None:  # through a proxy: urllib3's own request (CONNECT tunnel, proxy headers)
            response = self.pool.request(
                method,
                url,
                body=body,
                headers=dict(headers),
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=self._timeout_class(connect=remaining, read=remaining),
            )
            return Pooled(response)
        # Direct: our request and http.client's (lean) response on a connection of the origin's
        # urllib3 pool, which connects, verifies TLS and drops a connection the server closed.
        pool = self._direct
        conn = pool._get_conn()
        self._watchdog.attach(conn)
        try:
            conn.timeout = remaining  # for connect
            if conn.sock is not None:
                conn.sock.settimeout(remaining)
            head = self._head(method, target, headers, body)
            if conn.sock is None:
                conn.connect()  # urllib3's: TLS verified (the connection attaches itself meanwhile)
            sock = conn.sock
            # The socket itself: an answer that closes the connection (Connection: close, or no
            # length) takes the socket off it, and the deadline must still reach the socket.
            self._watchdog.attach(sock)
            sock.sendall(head + body if body else head)  # one send: head and body
            response = LeanResponse(sock, method=method)
            response.begin()
            if response.will_close:
                conn.close()  # as http.client does: the response holds the socket until it is read
            return Direct(pool, conn, response, method)
        except BaseException:
            conn.close()
            pool._put_conn(conn)
            raise

    def _head(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
        """The request line and headers, as http.client would write them: Host, Accept-Encoding
        identity, the given headers, Content-Length when there is a body (0 for a POST without)."""
        if _NOT_IN_TARGET.search(target) or not method.isalpha():  # a request line of its own
            raise JenkinsFailure(
                f"refusing to send a request target with blanks, controls or non-ASCII: {target!r}"
            )
        key = tuple(headers.items())
        fields = self._fields.get(key)
        if fields is None:
            if len(self._fields) >= 16:  # a handful in use (GET, POST with and without body)
                self._fields.clear()
            fields = self._fields[key] = _encode_fields(headers)
        head = f"{method} {target} HTTP/1.1\r\n".encode("ascii") + self._host + fields
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head += b"Content-Length: %d\r\n" % len(body or b"")
        return head + b"\r\n"

    def _redirect_target(self, reply: Reply, url: str, what: str) -> str:
        location = reply.header("Location")
        reply.finish(0)  # a redirect's body is not read: the connection is dropped instead
        target = urljoin(url, location)
        try:
            where: tuple[str, str, int] | None = origin(target)
        except ValueError:  # no valid port
            where = None
        if not location or where != self._origin:
            elsewhere = f"{where[0]}://{where[1]}:{where[2]}" if where else "an invalid URL"
            raise JenkinsFailure(
                f"{what}: Jenkins at {self._label} answered with a redirect (HTTP {reply.status}) to "
                f"{elsewhere}, not to the configured Jenkins; redirects off it are never followed "
                "(is the URL right, or is a proxy or login page in front of Jenkins?)"
            )
        return target

    def _answer(self, reply: Reply, cap: int, method: str, path: str, cookies: bool) -> Answer:
        set_cookies = reply.cookies() if cookies else ()
        if reply.status >= 400:  # an error page: read a little for keep-alive, never more
            reply.finish(MAX_ERROR_BODY)
            return Answer(reply.status, reply.headers, b"", set_cookies, reply.reason or "")
        try:
            body = reply.read(cap)
        except TooLarge:
            reply.drop()
            raise JenkinsFailure(
                f"{method} {path}: the answer of Jenkins at {self._label} is larger than "
                f"{cap // MiB or cap} {'MiB' if cap >= MiB else 'bytes'} (after decompression); "
                "not reading on"
            ) from None
        except BaseException:
            reply.drop()
            raise
        reply.release()
        return Answer(reply.status, reply.headers, body, set_cookies)


_NOT_IN_TARGET = re.compile(r"[^\x21-\x7e]")  # http.client refuses blanks and controls; non-ASCII too
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# Written by the transport itself on the direct path: never taken from a caller's headers.
FRAMING_HEADERS = frozenset({"host", "accept-encoding", "content-length", "transfer-encoding", "connection"})


def _encode_fields(headers: Mapping[str, str]) -> bytes:
    """``name: value`` lines; a name that is not a token, a value with a line break or NUL, or a
    framing header (written by the transport itself) is refused."""
    lines = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or name.lower() in FRAMING_HEADERS or re.search(r"[\r\n\x00]", value):
            raise ValueError(f"refusing to send the header {name!r}")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(lines)


_NETWORK_ERRORS = (http.client.HTTPException, OSError, ValueError)  # and urllib3's: Transport


def _translated(exc: Exception) -> Exception:
    """An error of the direct path (http.client, ssl, socket) as the urllib3 error urllib3 raises for
    it (what :func:`~provisioner.jenkins.retry.classify` maps); any other error unchanged."""
    import ssl

    import urllib3

    if not isinstance(exc, http.client.HTTPException | OSError):  # urllib3's own, or ValueError
        return exc
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return urllib3.exceptions.SSLError(exc)
    return urllib3.exceptions.ProtocolError("Connection aborted.", exc)
