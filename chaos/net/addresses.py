"""Node addresses as they may reach an argv: the one check every network fault uses."""

from __future__ import annotations

import ipaddress

from chaos_eval.errors import ParameterError


def checked_ipv4(address: str) -> str:
    """The canonical text of a node's IPv4 address; ParameterError for anything else
    (not an address, IPv6, unspecified, multicast or loopback)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as e:
        raise ParameterError(f"not an IP address: {address!r}") from e
    if not isinstance(ip, ipaddress.IPv4Address):
        raise ParameterError(f"only IPv4 addresses are supported here: {address!r}")
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise ParameterError(f"not a node address: {address!r}")
    return str(ip)
