"""Ask a Botwerk bot one question with nothing but pika, msgpack and docs/protocol.md.

    python docs/examples/raw_client.py --bot demo --text "hello"      # prints: echo: hello

What any client in any language does (protocol.md, section 6a): declare a reply queue of its
own with the documented arguments, bound to ``{ns}.replies`` by its own name; publish one
``botwerk.inbound.v1`` to ``{ns}.inbound`` with key ``<bot>.<transport>``, ``mandatory`` and
publisher confirms, a ``message_id``, ``reply_to`` and an ``x-botwerk-deadline``; then wait,
until that deadline, for the ``botwerk.reply.v1`` whose ``correlation_id`` is that
``message_id``. The reply queue is left to expire.

Exit status: 0 the bot answered; 1 no answer before the deadline ("took too long"); 2 the
mesh answered with an error (the printed text says why) or no core serves the bot.
"""

import argparse
import sys
import time
import uuid
from typing import Any

import msgpack
import pika
import pika.exceptions

TRANSPORT = "raw"  # our transport name: the second word of the routing key


def ask(url: str, ns: str, bot: str, text: str, deadline_ms: int) -> dict[str, Any] | None:
    """The reply's fields, or None when none came before the deadline."""
    message_id = uuid.uuid4().hex
    deadline = int(time.time() * 1000) + deadline_ms  # epoch milliseconds
    reply_queue = f"{ns}.reply.raw.{message_id[:8]}"
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.queue_declare(reply_queue, durable=True, arguments={"x-expires": 300_000})
        channel.queue_bind(reply_queue, f"{ns}.replies", routing_key=reply_queue)
        channel.confirm_delivery()  # basic_publish now raises on a nack or a return
        user = {"id": "raw-client", "name": "Raw client"}
        inbound = {"bot": bot, "transport": TRANSPORT, "conversation": message_id, "user": user,
                   "text": text, "direct": True, "sent_at": time.time()}  # fmt: skip
        properties = pika.BasicProperties(
            content_type="application/msgpack", type="botwerk.inbound.v1",
            message_id=message_id, reply_to=reply_queue, delivery_mode=2,
            headers={"x-botwerk-deadline": deadline, "x-botwerk-trace": message_id[:16]},
        )  # fmt: skip
        body = msgpack.packb(inbound, use_bin_type=True)
        channel.basic_publish(
            f"{ns}.inbound", f"{bot}.{TRANSPORT}", body, properties, mandatory=True
        )
        for method, props, raw in channel.consume(reply_queue, inactivity_timeout=0.1):
            if method is not None:
                reply: dict[str, Any] = msgpack.unpackb(raw, raw=False)
                channel.basic_ack(method.delivery_tag)  # one question: shown right after
                if props.correlation_id == message_id and props.type == "botwerk.reply.v1":
                    return reply
            if time.time() * 1000 >= deadline:
                return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--namespace", default="botwerk", help="BOTWERK_NAMESPACE of the mesh")
    parser.add_argument("--bot", default="demo")
    parser.add_argument("--text", required=True)
    parser.add_argument("--deadline-ms", type=int, default=30_000)
    args = parser.parse_args()
    try:
        reply = ask(args.url, args.namespace, args.bot, args.text, args.deadline_ms)
    except pika.exceptions.UnroutableError:
        print(f"The {args.bot} bot isn't running right now; please try again later.")
        return 2
    except pika.exceptions.NackError:
        print("I'm busy right now; please try again in a moment.")
        return 2
    except pika.exceptions.ChannelClosedByBroker as exc:  # 404: nothing ran in that namespace
        print(f"The broker refused: {exc.reply_text}")
        return 2
    if reply is None:
        print("Sorry, that took too long. Please try again in a moment.")
        return 1
    print(reply["text"])
    return 2 if reply.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
