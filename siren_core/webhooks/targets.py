"""Where a delivery may go. A target URL is ``http`` or ``https``, names a host, carries
no credentials, and resolves only to public addresses: a loopback, private, link-local,
multicast, reserved or unspecified address is refused -- when the subscription is made
and again at every delivery (a name may resolve elsewhere later) -- unless the operator
sets ``SIREN_WEBHOOKS_ALLOW_PRIVATE=1`` (development and tests). The delivery then
connects to the very address that was checked."""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import SplitResult, urlsplit

import attrs

from siren_core.errors import InvalidInput

ALLOW_PRIVATE_ENV = "SIREN_WEBHOOKS_ALLOW_PRIVATE"
URL_LENGTH = 2048


class TargetRefused(Exception):
    """A target that resolves to an address a delivery may not reach (or to none)."""


@attrs.frozen
class Target:
    """A checked URL: its parts and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    address: str


def private_allowed() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip() in ("1", "true", "yes")


def parse(url: str, field: str = "targetUrl") -> SplitResult:
    """The parts of a well-formed target URL (else ``InvalidInput`` naming ``field``)."""
    if not isinstance(url, str) or not url or len(url) > URL_LENGTH:
        raise InvalidInput(field, url, f"must be a URL of at most {URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise InvalidInput(field, url, f"is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(field, url, "must be an http or https URL")
    if not parts.hostname:
        raise InvalidInput(field, url, "names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(field, url, "must not carry credentials")
    if parts.fragment:
        raise InvalidInput(field, url, "must not have a fragment")
    return parts


def forbidden(address: str) -> bool:
    """Whether a delivery may not reach ``address`` (unless private targets are allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


def resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """Check ``url`` and resolve its host; :class:`TargetRefused` if any address it
    resolves to is forbidden (so that no answer of the resolver can be chosen)."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise TargetRefused(f"{host} does not resolve ({exc})") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    allowed = private_allowed() if allow_private is None else allow_private
    if not allowed:
        refused = [address for address in addresses if forbidden(address)]
        if refused:
            raise TargetRefused(f"{host} resolves to {refused[0]}, a loopback, private or "
                                f"link-local address (set {ALLOW_PRIVATE_ENV}=1 to allow)")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, parts.scheme, host, port, path, addresses[0])


def check(url: str, *, allow_private: bool | None = None) -> str:
    """``url`` if a subscription may target it, else ``InvalidInput`` on ``targetUrl``."""
    try:
        resolve(url, allow_private=allow_private)
    except TargetRefused as exc:
        raise InvalidInput("targetUrl", url, f"is refused: {exc}") from None
    return url
