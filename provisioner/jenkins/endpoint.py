"""Endpoint policy: which Jenkins URLs the provisioner may talk to (and with which scheme).

Private means loopback, private IP ranges, single-label names and the in-cluster/internal suffixes.
A public host is refused unless explicitly allowed; plain ``http://`` only ever for private hosts.
URLs carrying credentials (``https://user:token@host``) are refused: they would end up in logs.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from provisioner.errors import UsageError

PRIVATE_SUFFIXES = (".svc", ".cluster.local", ".internal", ".local", ".localhost")


def is_private_host(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(PRIVATE_SUFFIXES)
    return address.is_loopback or address.is_private


def check_jenkins_url(url: str, *, allow_public: bool = False) -> str:
    """The URL normalized to end with ``/``; UsageError when the endpoint policy refuses it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--jenkins-url {url!r} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("--jenkins-url must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            "--jenkins-url must not carry credentials; use JENKINS_USER/JENKINS_TOKEN or --user/--token-file"
        )
    if parts.query or parts.fragment:
        raise UsageError("--jenkins-url must not have a query or fragment")
    private = is_private_host(parts.hostname)
    if not private and not allow_public:
        raise UsageError(
            f"Jenkins host {parts.hostname} is public; the endpoint policy allows only private hosts "
            "(loopback, private IP ranges, single-label names, .svc, .cluster.local, .internal, .local); "
            "pass --allow-public-jenkins to allow it (https only)"
        )
    if parts.scheme == "http" and not private:
        raise UsageError(
            f"plain http:// is allowed only for private hosts, not {parts.hostname}: use https://"
        )
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc += f":{port}"
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, netloc, path, "", ""))
