"""Who is asking, and what they may administer (pure: headers, addresses and files' text in).

* Behind the platform's OIDC proxy (oauth2-proxy conventions): ``X-Forwarded-User``,
  ``X-Forwarded-Email`` and ``X-Forwarded-Groups`` name the user, but only on connections from the
  proxy's addresses (``--auth-proxy CIDR``); from anywhere else those headers are ignored.
* Or bearer tokens from a file that stores only their SHA-256 (``--tokens FILE``)::

      tokens:
        - name: Olena Koval
          email: olena@example.com
          sha256: 9f86d0...      # printf %s "$TOKEN" | sha256sum
          groups: [registry-admins]

* ``--access FILE`` maps registries to the users (name or email) and groups administering them;
  ``"*"`` covers every registry. Without it every signed-in user administers every registry::

      demo-registry:
        users: [olena@example.com]
        groups: [registry-admins]
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from provisioner.errors import UsageError
from provisioner.settings.strict_yaml import YamlError, compose_strict, construct_plain

_MAX_FIELD = 256
_MAX_GROUPS = 200
_EMAIL = re.compile(r"[^@\s<>\"\\,;]{1,128}@[^@\s<>\"\\,;]{1,128}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Principal:
    name: str
    email: str  # for the commit's author; "<name>@users.invalid" when the proxy sends none
    groups: tuple[str, ...]
    via: Literal["proxy", "token"]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "email": self.email}


def _clean(text: str) -> str | None:
    text = text.strip()
    if not text or len(text) > _MAX_FIELD or any(not ch.isprintable() or ch in "<>" for ch in text):
        return None
    return text


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    found: list[Network] = []
    for cidr in cidrs:
        try:
            found.append(ipaddress.ip_network(cidr, strict=True))
        except ValueError as exc:
            raise UsageError(f"--auth-proxy {cidr!r} is not an address or CIDR block: {exc}") from exc
    return tuple(found)


def _trusted(client: str | None, networks: tuple[Network, ...]) -> bool:
    if client is None or not networks:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in net for net in networks)


def forwarded_host(
    client: str | None, headers: Mapping[str, str], networks: tuple[Network, ...]
) -> str | None:
    """The proxy's X-Forwarded-Host (the host the browser used), from the proxy only."""
    if not _trusted(client, networks):
        return None
    return _clean(headers.get("x-forwarded-host", ""))


def from_proxy(
    client: str | None, headers: Mapping[str, str], networks: tuple[Network, ...]
) -> Principal | None:
    """The user the trusted proxy names; None when the peer is not the proxy or the headers are unusable."""
    if not _trusted(client, networks):
        return None  # anyone can send these headers: only the proxy's are believed
    name = _clean(headers.get("x-forwarded-user", ""))
    if name is None:
        return None
    email = _clean(headers.get("x-forwarded-email", ""))
    if email is not None and not _EMAIL.fullmatch(email):
        return None
    if email is None:
        email = name if _EMAIL.fullmatch(name) else f"{re.sub(r'[^A-Za-z0-9._-]', '-', name)}@users.invalid"
    raw_groups = headers.get("x-forwarded-groups", "")
    groups = tuple(g for g in (_clean(part) for part in raw_groups.split(",")) if g is not None)
    return Principal(name, email, groups[:_MAX_GROUPS], "proxy")


@dataclass(frozen=True)
class TokenBook:
    """Token hashes -> principals (the tokens themselves are never stored)."""

    by_hash: Mapping[str, Principal]

    def lookup(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 4096:
            return None
        digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).hexdigest()
        for known, principal in self.by_hash.items():  # every entry compared: no early exit to time
            if hmac.compare_digest(known, digest):
                return principal
        return None


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _clean(v) for v in value):
        raise ValueError(f"{where} must be a list of non-empty strings")
    return tuple(str(v).strip() for v in value)


def _plain(text: str, what: str) -> object:
    try:
        root = compose_strict(text, what=what)
        return construct_plain(root) if root is not None else None
    except YamlError as exc:
        raise UsageError(f"{what}: line {exc.line}: {exc.message}") from exc
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from exc


def parse_tokens(text: str, what: str) -> TokenBook:
    data = _plain(text, what)
    entries = data.get("tokens") if isinstance(data, dict) and set(data) == {"tokens"} else None
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{what}: expected a mapping with one key, tokens, a non-empty list")
    book: dict[str, Principal] = {}
    for index, entry in enumerate(entries):
        where = f"{what}: tokens[{index}]"
        try:
            if not isinstance(entry, dict) or not {"name", "email", "sha256"} <= set(entry) <= {
                "name",
                "email",
                "sha256",
                "groups",
            }:
                raise ValueError("needs name, email and sha256 (and optionally groups), nothing else")
            name, email, digest = entry["name"], entry["email"], entry["sha256"]
            if not isinstance(name, str) or _clean(name) is None:
                raise ValueError("name must be a non-empty single-line string without < >")
            if not isinstance(email, str) or not _EMAIL.fullmatch(email):
                raise ValueError("email must be an e-mail address")
            if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
                raise ValueError(
                    "sha256 must be 64 lowercase hex digits (the token's SHA-256, not the token)"
                )
            groups = _strings(entry.get("groups", []), "groups")
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from exc
        if digest in book:
            raise UsageError(f"{where}: the same token hash is listed twice")
        book[digest] = Principal(name.strip(), email, groups, "token")
    return TokenBook(book)


@dataclass(frozen=True)
class AccessMap:
    """registry (or "*") -> (users, groups) who administer it."""

    rules: Mapping[str, tuple[frozenset[str], frozenset[str]]]

    def allows(self, principal: Principal, registry: str) -> bool:
        for key in (registry, "*"):
            users, groups = self.rules.get(key, (frozenset(), frozenset()))
            if principal.name in users or principal.email in users:
                return True
            if groups.intersection(principal.groups):
                return True
        return False


def parse_access(text: str, what: str, registries: Sequence[str]) -> AccessMap:
    data = _plain(text, what)
    if not isinstance(data, dict) or not data:
        raise UsageError(f'{what}: expected a mapping of registry names (or "*") to users and groups')
    rules: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for registry, rule in data.items():
        where = f"{what}: {registry}"
        if registry != "*" and registry not in registries:
            raise UsageError(f"{where}: not a registry this console serves ({', '.join(registries)})")
        if not isinstance(rule, dict) or not set(rule) <= {"users", "groups"} or not rule:
            raise UsageError(f"{where}: expected a mapping with users and/or groups")
        try:
            users = _strings(rule.get("users", []), "users")
            groups = _strings(rule.get("groups", []), "groups")
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from exc
        rules[registry] = (frozenset(users), frozenset(groups))
    return AccessMap(rules)


def csrf_token(secret: bytes, principal: Principal) -> str:
    """The page's form token: bound to the user and to this console's secret (no server-side state)."""
    message = f"csrf\x00{principal.via}\x00{principal.name}\x00{principal.email}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, principal: Principal, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(secret, principal), sent)
