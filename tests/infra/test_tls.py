"""TLS to the broker, end to end: a throwaway node with a TLS listener and a CA made here.

Two nodes for the module: one that takes clients with or without a certificate, one that
requires a client certificate of the test's CA (RabbitMQ's ``ssl_options`` are per node).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from botwerk.cli.app import main
from botwerk.infra import topology
from botwerk.infra.bus import Outgoing
from botwerk.infra.errors import BrokerUnreachable
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import ConfigError, Settings
from botwerk.infra.tls import celery_ssl, client_context, explain
from botwerk.schemas import BotwerkError, Reply
from botwerk.workers.jobs import client, queues
from tests.support.broker import RABBITMQ_BIN, NodeConfig, Pki, ThrowawayBroker, make_pki
from tests.support.ports import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

START_RABBITMQ = "rabbitmq-server -detached"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _node(root: Path, config: NodeConfig) -> Iterator[ThrowawayBroker]:
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        message = f"no rabbitmq-server in {RABBITMQ_BIN}: install Debian's rabbitmq-server"
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    node = ThrowawayBroker(root, config)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ThrowawayBroker]:
    """Client certificates optional (the broker does not ask for one)."""
    yield from _node(tmp_path_factory.mktemp("tls-node"), NodeConfig(tls=pki))


@pytest.fixture(scope="module")
def strict_node(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ThrowawayBroker]:
    """``verify_peer`` and ``fail_if_no_peer_cert``: no certificate of the test's CA, no entry."""
    config = NodeConfig(tls=pki, require_client_cert=True)
    yield from _node(tmp_path_factory.mktemp("strict-node"), config)


def _on(settings: Settings, url: str, **tls: Path) -> Settings:
    return settings.model_copy(update={"amqp_url": url, **{f"amqp_{k}": v for k, v in tls.items()}})


async def _round_trip(settings: Settings) -> None:
    bus = RabbitBus(settings, name="tls round trip")
    await bus.start(timeout=10)
    try:
        names = topology.Names(settings.namespace)
        await bus.declare(topology.for_worker(names, "m", topology.Limits()))
        got: list[str] = []

        async def keep(delivery):
            got.append(delivery.message.message_id)
            delivery.ack()

        await bus.consume(names.infer_queue("m"), keep, prefetch=10)
        sent = Outgoing.of(Reply(bot="b", conversation="c", text="over TLS"))
        await bus.publish(names.infer, "m", sent, mandatory=True)
        await eventually(lambda: got == [sent.message_id], timeout=10)
    finally:
        await bus.close()


async def _refusal(settings: Settings) -> str:
    bus = RabbitBus(settings, name="tls refused")
    try:
        with pytest.raises(BrokerUnreachable) as caught:
            await bus.start(timeout=3)
    finally:
        await bus.close()
    text = str(caught.value)
    assert text.startswith("TLS to BOTWERK_AMQP_URL ") and "guest:***@" in text, text
    assert START_RABBITMQ not in text and "guest:guest" not in text, text
    return text


def _tls_connections(node: ThrowawayBroker) -> list[list[str]]:
    rows = node.ctl("list_connections", "ssl", "peer_cert_subject", "--silent").splitlines()
    return [row.split("\t") for row in rows if row.strip()]


async def test_a_bus_over_amqps_publishes_and_consumes_verifying_the_test_ca(
    tls_node, pki, settings
):
    await _round_trip(_on(settings, tls_node.tls_url, ca=pki.ca))
    bus = RabbitBus(_on(settings, tls_node.tls_url, ca=pki.ca), name="tls without a certificate")
    await bus.start(timeout=10)
    try:  # TLS indeed, and no client certificate needed
        # the round trip's closed connection may still be listed: every one is TLS, no cert
        assert {tuple(row) for row in _tls_connections(tls_node)} == {("true", "")}
    finally:
        await bus.close()


async def test_a_broker_certificate_of_an_unknown_ca_is_a_tls_error_naming_the_ca_setting(
    tls_node, pki, settings
):
    text = await _refusal(_on(settings, tls_node.tls_url, ca=pki.other_ca))
    assert "not signed by a CA we trust" in text and "set BOTWERK_AMQP_CA" in text


async def test_the_system_cas_do_not_trust_a_private_ca_and_say_to_set_one(tls_node, settings):
    text = await _refusal(_on(settings, tls_node.tls_url))
    assert "the system's CAs" in text and "set BOTWERK_AMQP_CA" in text


async def test_a_host_the_broker_certificate_does_not_name_is_refused(tls_node, pki, settings):
    url = tls_node.tls_url.replace("@localhost:", "@127.0.0.1:")
    text = await _refusal(_on(settings, url, ca=pki.ca))
    assert "certificate does not name 127.0.0.1" in text and "BOTWERK_AMQP_URL" in text


async def test_amqps_to_the_plain_amqp_port_is_a_tls_error(tls_node, pki, settings):
    text = await _refusal(
        _on(settings, f"amqps://guest:guest@localhost:{tls_node.port}/", ca=pki.ca)
    )
    assert "does not speak TLS" in text and "TLS port (5671)" in text


async def test_a_broker_requiring_a_client_certificate_takes_ours(strict_node, pki, settings):
    tls = {"ca": pki.ca, "cert": pki.client_cert, "key": pki.client_key}
    bus = RabbitBus(_on(settings, strict_node.tls_url, **tls), name="tls with a certificate")
    await bus.start(timeout=10)
    try:  # the broker sees a TLS connection with our client certificate
        seen = {tuple(row) for row in _tls_connections(strict_node)}
        assert seen == {("true", "CN=botwerk-test-client")}
    finally:
        await bus.close()
    await _round_trip(_on(settings, strict_node.tls_url, **tls))


async def test_a_broker_requiring_a_client_certificate_refuses_none_clearly(
    strict_node, pki, settings
):
    text = await _refusal(_on(settings, strict_node.tls_url, ca=pki.ca))
    assert "requires a client certificate" in text and "set BOTWERK_AMQP_CERT" in text


async def test_a_client_certificate_of_another_ca_is_refused_clearly(strict_node, pki, settings):
    tls = {"ca": pki.ca, "cert": pki.stranger_cert, "key": pki.stranger_key}
    text = await _refusal(_on(settings, strict_node.tls_url, **tls))
    assert "refused the client certificate BOTWERK_AMQP_CERT" in text


async def test_an_unreachable_amqps_broker_keeps_the_start_rabbitmq_advice(pki, settings):
    bus = RabbitBus(_on(settings, f"amqps://guest:pw@localhost:{free_port()}/", ca=pki.ca))
    with pytest.raises(BrokerUnreachable, match=START_RABBITMQ):
        await bus.start(timeout=1.5)
    await bus.close()


def test_the_trainer_connects_over_the_same_tls_and_says_when_tls_fails(tls_node, pki, settings):
    good = _on(settings, tls_node.tls_url, ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
    client.reach(queues.base_app(good))  # kombu's connection: verified, training queue declared
    wrong_host = _on(good, tls_node.tls_url.replace("@localhost:", "@127.0.0.1:"))
    with pytest.raises(BotwerkError) as caught:
        client.reach(queues.base_app(wrong_host))
    text = str(caught.value)
    assert "TLS to BOTWERK_AMQP_URL" in text and "does not name 127.0.0.1" in text, text
    assert START_RABBITMQ not in text, text


# Settings alone, no broker.


async def test_tls_files_with_a_plain_amqp_url_are_refused(pki):
    settings = Settings.load(amqp_url="amqp://u:p@localhost:5672/", amqp_ca=str(pki.ca))
    with pytest.raises(ConfigError, match="use amqps:// and the broker's TLS port"):
        await RabbitBus(settings).start(timeout=5)


async def test_a_missing_ca_file_stops_the_bus_at_once_naming_the_setting(tmp_path):
    settings = Settings.load(amqp_url="amqps://u:p@localhost/", amqp_ca=str(tmp_path / "no.pem"))
    with pytest.raises(ConfigError, match=r"BOTWERK_AMQP_CA .*no\.pem: cannot read it"):
        await RabbitBus(settings).start(timeout=5)


def test_a_role_reports_an_unusable_tls_file_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWERK_AMQP_URL", "amqps://u:p@localhost:5671/")
    monkeypatch.setenv("BOTWERK_AMQP_CA", str(tmp_path / "no.pem"))
    result = CliRunner().invoke(main, ["worker", "echo"])
    assert result.exit_code == 1, result.output
    assert "Error: BOTWERK_AMQP_CA" in result.output and "cannot read it" in result.output


def test_a_key_without_a_certificate_is_refused(pki):
    settings = Settings.load(amqp_url="amqps://u:p@localhost/", amqp_key=str(pki.client_key))
    with pytest.raises(ConfigError, match="BOTWERK_AMQP_KEY is set without BOTWERK_AMQP_CERT"):
        client_context(settings)


def test_a_certificate_file_that_is_not_one_names_the_setting(pki):
    settings = Settings.load(
        amqp_url="amqps://u:p@localhost/", amqp_cert=str(pki.ca.parent / "server.ext")
    )
    with pytest.raises(ConfigError, match=r"BOTWERK_AMQP_CERT .*server\.ext"):
        client_context(settings)


def test_celery_gets_the_ca_the_client_certificate_and_a_host_name_check(pki):
    settings = Settings.load(
        amqp_url="amqps://u:p@rabbit.example/", amqp_ca=str(pki.ca),
        amqp_cert=str(pki.client_cert), amqp_key=str(pki.client_key),
    )  # fmt: skip
    options = celery_ssl(settings)
    assert isinstance(options, dict)
    assert options["ca_certs"] == str(pki.ca) and options["certfile"] == str(pki.client_cert)
    assert options["keyfile"] == str(pki.client_key)
    assert options["server_hostname"] == "rabbit.example"  # the URL's host is checked
    assert queues.config(settings)["broker_use_ssl"] == options
    assert celery_ssl(Settings.load(amqp_url="amqp://u:p@localhost/")) is False


def test_amqps_checks_the_host_name_with_the_system_cas_by_default():
    context = client_context(Settings.load(amqp_url="amqps://u:p@rabbit.example/"))
    assert context is not None and context.check_hostname
    assert context.verify_mode.name == "CERT_REQUIRED"


def _ssl_error(reason: str, text: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    error.reason = reason  # as OpenSSL's errors carry it
    return error


@pytest.mark.parametrize(
    ("error", "cert", "fix"),
    [
        (ConnectionRefusedError(111, "Connection refused"), None, None),
        (_ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE", "alert"), None, "may require a client cert"),
        (_ssl_error("SSLV3_ALERT_BAD_CERTIFICATE", "alert"), "c.pem", "refused the client cert"),
        (_ssl_error("TLSV1_ALERT_PROTOCOL_VERSION", "alert"), "c.pem", "check the TLS settings"),
    ],
)
def test_tls_failures_that_the_test_node_cannot_stage_are_told_apart(error, cert, fix):
    settings = Settings.load(amqp_url="amqps://u:p@localhost/", amqp_cert=cert)
    wrapped = BrokerUnreachable("connect failed")
    wrapped.__cause__ = error
    text = explain(wrapped, settings)
    assert (text is None) if fix is None else (fix in (text or "")), text


def test_an_expired_broker_certificate_says_renew_it():
    error = ssl.SSLCertVerificationError(1, "certificate verify failed: certificate has expired")
    error.verify_message = "certificate has expired"
    text = explain(error, Settings.load(amqp_url="amqps://u:p@localhost/"))
    assert text is not None and "renew it" in text and "BOTWERK_AMQP_CA" not in text
