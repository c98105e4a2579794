"""The address allow-list of the operator endpoints (``metrics_allowed_addresses``)."""

from __future__ import annotations

import ipaddress

from santeid.settings import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """``"127.0.0.1/32, ::1/128, 10.0.0.0/8"`` → networks; a bad entry stops the start."""
    networks = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"metrics_allowed_addresses: {item!r} is not an IP address or CIDR network"
            ) from None
    return tuple(networks)


def address_allowed(address: str | None, networks: tuple[Network, ...]) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)
