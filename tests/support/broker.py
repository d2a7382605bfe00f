"""A throwaway RabbitMQ node for fault tests: its own name, ports, data and config in a folder.

In a fault test::

    node = ThrowawayBroker(tmp_path)
    node.start()                 # Debian's rabbitmq-server, beside the machine's main broker
    node.kill()                  # SIGKILL the Erlang VM: no goodbye to anyone
    node.start()                 # same data folder: durable queues and confirmed messages return
    node.pause(); node.resume()  # SIGSTOP / SIGCONT
    node.memory_alarm(True)      # publishers block until memory_alarm(False)

With ``NodeConfig(tls=make_pki(tmp_path / "pki"))`` the node also listens for TLS on
``node.tls_port`` (``node.tls_url``), with a certificate for ``localhost`` signed by a CA the
test made; ``require_client_cert=True`` refuses clients without a certificate of that CA.

The node is configured for fault tests: a short heartbeat, a small maximum message size and a
short ``consumer_timeout`` checked every second, so the slow paths take seconds, not hours.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from botwerk.testing import admin

from .ports import free_port

RABBITMQ_BIN = Path(os.environ.get("BOTWERK_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


@dataclass(frozen=True)
class NodeConfig:
    heartbeat_s: int = 2
    max_message_size: int = 1024 * 1024
    consumer_timeout_ms: int = 20_000
    channel_tick_ms: int = 1_000  # how often the broker checks consumer_timeout (default 60 s)
    # The HTTP API and dashboard on ``ThrowawayBroker.management_port``. Off by default: measured
    # here it adds ~1 s to a boot, ~0.7 s to a restart and ~5 s to a stop (the plugin waits
    # out its statistics collector), which the fault node pays again and again.
    management: bool = False
    tls: Pki | None = None  # a TLS listener on ``ThrowawayBroker.tls_port`` with these files
    require_client_cert: bool = False  # TLS clients must show a certificate of ``tls.ca``
    # Seconds until a silent peer node counts as down (Erlang's own default: 60): a cluster's
    # nodes notice a frozen one within 0.75-1.25 times this. None: the default.
    net_ticktime_s: int | None = None
    conf: str = ""  # more rabbitmq.conf lines (a cluster's partition handling, say)


@dataclass(frozen=True)
class Pki:
    """A CA made for one test, a server certificate it signed and a client certificate it signed.

    The server certificate names only ``localhost`` (no IP address), so ``amqps://...@localhost``
    verifies and ``amqps://...@127.0.0.1`` is a host name mismatch. ``other_ca`` signed nothing
    here but ``stranger_cert``: trusting it instead of ``ca`` is an unknown CA, and a broker that
    trusts ``ca`` refuses the stranger's client certificate.
    """

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path


def make_pki(folder: Path) -> Pki:
    """Make a :class:`Pki` in ``folder`` with ``openssl`` (RSA 2048, valid a day)."""
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        command = f"req -x509 -newkey rsa:2048 -nodes -days 1 -keyout {ca}.key -out {ca}.pem"
        _openssl(folder, *command.split(), "-subj", f"/CN=botwerk test {ca}")
    _signed(folder, "ca", "server", "localhost", "subjectAltName=DNS:localhost")
    _signed(folder, "ca", "client", "botwerk-test-client", "extendedKeyUsage=clientAuth")
    _signed(folder, "other-ca", "stranger", "botwerk-test-stranger", "extendedKeyUsage=clientAuth")
    return Pki(
        ca=folder / "ca.pem", other_ca=folder / "other-ca.pem",
        server_cert=folder / "server.pem", server_key=folder / "server.key",
        client_cert=folder / "client.pem", client_key=folder / "client.key",
        stranger_cert=folder / "stranger.pem", stranger_key=folder / "stranger.key",
    )  # fmt: skip


def _signed(folder: Path, ca: str, name: str, common_name: str, extension: str) -> None:
    request = f"req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr"
    _openssl(folder, *request.split(), "-subj", f"/CN={common_name}")
    (folder / f"{name}.ext").write_text(extension + "\n")
    sign = f"x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -days 1"
    _openssl(folder, *sign.split(), "-extfile", f"{name}.ext", "-out", f"{name}.pem")


def _openssl(folder: Path, *args: str) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=folder, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {result.stderr}")


class ThrowawayBroker:
    """One RabbitMQ node that a test may kill, pause, restart or alarm."""

    def __init__(self, root: Path, config: NodeConfig = NodeConfig()) -> None:
        self.root = root
        self.config = config
        self.name = f"botwerk-test-{secrets.token_hex(3)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.management_port = free_port() if config.management else None
        self.tls_port = free_port() if config.tls else None
        self.ready_at = 0.0
        self.paused = False
        self._server: subprocess.Popen[bytes] | None = None
        self._write_files()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def tls_url(self) -> str:
        """``amqps://`` to the TLS listener by the name its certificate carries (``localhost``)."""
        if self.tls_port is None:
            raise RuntimeError("this node runs without TLS: NodeConfig(tls=make_pki(folder))")
        return f"amqps://guest:guest@localhost:{self.tls_port}/"

    @property
    def management_url(self) -> str:
        """The HTTP API's base, with the administrator's credentials.

        Only on a node with ``NodeConfig(management=True)``.
        """
        if self.management_port is None:
            raise RuntimeError(
                "this node runs without the management plugin: NodeConfig(management=True)"
            )
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    def start(self, timeout: float = 90.0) -> float:
        """Boot the node and wait until it takes AMQP connections; the seconds it took."""
        started = time.monotonic()
        log = (self.root / "server.log").open("ab")
        self._server = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")], env=self.env, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        while admin.reachable(self.url) is not None:
            if self._server.poll() is not None and self._dist_port_taken():
                self.dist_port = free_port()  # someone took it meanwhile: boot on another
                return self.start(timeout - (time.monotonic() - started))
            if self._server.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"RabbitMQ node {self.name} did not start; see {self.root}")
            time.sleep(0.2)
        if self.management_port is not None:
            self._wait_for_management(started + timeout)
        self.ready_at = time.monotonic()
        return self.ready_at - started

    def _wait_for_management(self, give_up: float) -> None:
        """Until the HTTP API answers (it starts with the node, a moment after AMQP)."""
        url = f"http://127.0.0.1:{self.management_port}/api/overview"
        guest = base64.b64encode(b"guest:guest").decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {guest}"})
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5):
                    return
            except OSError:
                if time.monotonic() > give_up:
                    raise RuntimeError(f"{self.name}: no management API at {url}") from None
                time.sleep(0.1)

    def _dist_port_taken(self) -> bool:
        log = (self.root / "server.log").read_text(errors="replace")
        return f"dist_port_already_used,{self.dist_port}" in log

    def stop(self) -> None:
        """Stop the node for good (gracefully, else by force)."""
        if self.running:
            self.ctl("stop", check=False)
        if self._server is not None:
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the Erlang VM, as a crash or an OOM killer would."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)
        if self._server is not None:
            self._server.wait(timeout=30)

    def pause(self) -> None:
        os.kill(self.pid(), signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)
        self.paused = False

    def memory_alarm(self, on: bool) -> None:
        """Raise (watermark 0) or clear the memory alarm: publishers block while it is raised."""
        self.ctl("set_vm_memory_high_watermark", "0" if on else "0.4")

    def close_all_connections(self, why: str = "fault test") -> None:
        self.ctl("close_all_connections", why)

    def ctl(self, *args: str, check: bool = True, tool: str = "rabbitmqctl") -> str:
        """``rabbitmqctl ARGS`` on this node (or another CLI ``tool``: ``rabbitmq-queues``)."""
        result = subprocess.run(
            [str(RABBITMQ_BIN / tool), "-n", self.name, *args],
            env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.poll() is None

    def pid(self) -> int:
        return int((self.root / "node.pid").read_text().strip())

    @property
    def env(self) -> dict[str, str]:
        root = str(self.root)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
            "HOME": root,  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{root}/mnesia",
            "RABBITMQ_LOG_BASE": f"{root}/log",
            "RABBITMQ_CONFIG_FILE": f"{root}/rabbitmq",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{root}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{root}/enabled_plugins",
            "RABBITMQ_CONF_ENV_FILE": f"{root}/rabbitmq-env.conf",
            "RABBITMQ_PID_FILE": f"{root}/node.pid",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _write_files(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        config = self.config
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"heartbeat = {config.heartbeat_s}\n"
            f"max_message_size = {config.max_message_size}\n"
            f"consumer_timeout = {config.consumer_timeout_ms}\n"
            "loopback_users = none\n"
            + (
                f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
                if self.management_port
                else ""
            )
            + self._tls_conf()
            + config.conf
        )
        rabbit = f"{{channel_tick_interval, {config.channel_tick_ms}}}"
        if self.management_port is not None:
            # Quorum queues report their counts every second, not every 5: the API and the
            # dashboard show a new consumer ~3 s after it came rather than ~8 (measured).
            rabbit += ", {quorum_tick_interval, 1000}"
        kernel = f", {{kernel, [{{net_ticktime, {config.net_ticktime_s}}}]}}" * bool(
            config.net_ticktime_s
        )
        (self.root / "advanced.config").write_text(f"[{{rabbit, [{rabbit}]}}{kernel}].\n")
        plugins = "rabbitmq_management" if self.management_port else ""
        (self.root / "enabled_plugins").write_text(f"[{plugins}].\n")
        (self.root / "rabbitmq-env.conf").write_text("")

    def _tls_conf(self) -> str:
        pki = self.config.tls
        if pki is None:
            return ""
        verify = "verify_peer" if self.config.require_client_cert else "verify_none"
        return (
            f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
            f"ssl_options.cacertfile = {pki.ca}\n"
            f"ssl_options.certfile = {pki.server_cert}\n"
            f"ssl_options.keyfile = {pki.server_key}\n"
            f"ssl_options.verify = {verify}\n"
            f"ssl_options.fail_if_no_peer_cert = {str(self.config.require_client_cert).lower()}\n"
        )


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise TimeoutError(f"process {pid} still alive after SIGKILL")
