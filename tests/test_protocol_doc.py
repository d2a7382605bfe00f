"""docs/protocol.md is enough: a client built from it alone talks to real Botwerk processes."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import msgspec
import pytest

from botwerk.infra import topology
from botwerk.infra.bus import DEAD_QUEUE_HEADER, DEADLINE_HEADER, REASON_HEADER, TRACE_HEADER
from botwerk.schemas import TYPES, ErrorCode, User
from botwerk.testing import admin

DOCS = Path(__file__).resolve().parents[1] / "docs"
PROTOCOL = DOCS / "protocol.md"
RAW_CLIENT = DOCS / "examples" / "raw_client.py"


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [("hello from afar", "echo: hello from afar"), ("ping", "pong")],
)
def test_a_client_written_from_the_document_alone_gets_its_answer(
    processes, amqp_url, settings, text, expected
):
    names = topology.Names(settings.namespace)
    processes.start("worker", "echo")
    admin.wait_for_consumers(amqp_url, names.infer_queue("echo"))
    processes.start("core", "demo")
    admin.wait_for_consumers(amqp_url, names.core_queue("demo"))

    run = subprocess.run(
        [sys.executable, str(RAW_CLIENT), "--url", amqp_url,
         "--namespace", settings.namespace, "--text", text],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    logs = "\n".join(processes.log_of(proc) for proc in processes.running)
    assert run.returncode == 0, f"{run.stdout}{run.stderr}\n{logs}"
    assert expected in run.stdout


def test_the_client_imports_only_pika_msgpack_and_the_standard_library():
    tree = ast.parse(RAW_CLIENT.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside <= {"pika", "pika.exceptions", "msgpack"}


def test_the_document_names_every_type_code_header_and_queue_argument():
    doc = PROTOCOL.read_text()
    queue_arguments = {
        *topology.work_queue("q", "dlx", topology.Limits()).arguments,
        *topology.reply_queue("q").arguments,
    }
    wanted = {
        *TYPES,
        *typing.get_args(ErrorCode),
        TRACE_HEADER,
        DEADLINE_HEADER,
        REASON_HEADER,
        DEAD_QUEUE_HEADER,
        *queue_arguments,
        str(topology.REPLY_QUEUE_EXPIRES_MS),
        *(f.name for cls in (*TYPES.values(), User) for f in msgspec.structs.fields(cls)),
    }
    missing = sorted(name for name in wanted if f"`{name}`" not in doc)
    assert not missing, f"docs/protocol.md does not mention {missing}"
    assert "examples/raw_client.py" in doc
