"""Which network addresses a source URL may reach without being named in MIRA_ALLOWED_SOURCES: public ones.

Loopback, private, shared (CGNAT), link-local (169.254.169.254 is the cloud metadata endpoint), reserved,
unspecified and multicast addresses reach services a caller outside the cluster must never reach through us.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def literal(host: str) -> IPAddress | None:
    """The address a host string spells (brackets allowed for IPv6), or None for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def is_public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


def names_loopback(host: str) -> bool:
    """Names that mean this machine whatever DNS says."""
    host = host.lower().rstrip(".")
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (once: callers connect to one of these, never look the name up again)."""
    found = literal(host)
    if found is not None:
        return [found]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = literal(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 zone index
        if address is not None and address not in addresses:
            addresses.append(address)
    return addresses
