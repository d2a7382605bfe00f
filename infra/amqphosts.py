"""``BOTWERK_AMQP_URL`` naming a RabbitMQ cluster: one URL, several hosts, comma-separated.

>>> node_urls("amqp://bot:pw@rabbit-0:5672,rabbit-1,[::1]:5673/prod?heartbeat=30")
['amqp://bot:pw@rabbit-0:5672/prod?heartbeat=30', 'amqp://bot:pw@rabbit-1/prod?heartbeat=30', \
'amqp://bot:pw@[::1]:5673/prod?heartbeat=30']

One user, password, virtual host and query serve every node (a cluster shares its users and
virtual hosts); each host takes its own optional port. A single-host URL gives itself back, so
every existing URL means what it meant. The bus tries the nodes in a fresh random order on each
connect (infra/rabbit.py), so clients spread over the cluster; Celery gets the same list
joined by ``;``, the failover form kombu reads (workers/jobs/queues.py).

Limits: only the part after the last ``@`` is split, so a password may hold a comma (a host
name never does); the query's ``heartbeat`` and the TLS settings apply to every node alike.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def node_urls(url: str) -> list[str]:
    """One single-host URL per host of ``url``, in its order; ValueError for a bad one.

    A bad one: an empty host between commas, a port that is not a number in range, an
    unbalanced ``[`` of an IPv6 address. The error never holds the password.
    """
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    nodes = []
    for host in hosts.split(","):
        node = urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host.strip()}"))
        try:
            split = urlsplit(node)
            split.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError:
            raise ValueError(f"bad host {host.strip()!r}") from None
        if not split.hostname:
            raise ValueError(f"empty host in {hosts!r}")
        nodes.append(node)
    return nodes


def node_name(url: str) -> str:
    """``host:port`` of a single-host URL, for logs (``[::1]:5672`` for IPv6)."""
    parts = urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    return host_port(parts.hostname or "", parts.port or default)


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets (``[::1]:5672``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
