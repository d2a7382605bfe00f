"""A chat model that shows the context it was sent: for tests of what a bot remembers.

Each reply is the text, ``|``, and the text of the line before (the context's part before its
own ``|``): sent ``"t2"`` with the context ``"t1|t0"``, it answers ``"t2|t1"``. So a test reads
from each reply whether the core sent the conversation's last line. Serve it as
``botwerk worker tests.support.context_chat:ContextChat --name chat``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botwerk.schemas.models.chat import ChatInput, ChatOutput
from botwerk.workers.echo.serve import EchoModel


class ContextChat(EchoModel):
    """Answers ``text|previous text``, where previous comes from the context it was sent."""

    Input: ClassVar[type[ChatInput]] = ChatInput  # type: ignore[assignment]

    def example(self) -> ChatInput:  # type: ignore[override]
        return ChatInput(text="warm-up")

    def on_loop(self, batch: list[ChatInput]) -> bool:  # type: ignore[override]
        return True  # string work only: no thread hop

    def predict(self, batch: list[ChatInput]) -> list[dict[str, Any]]:  # type: ignore[override]
        return [
            ChatOutput(
                text=f"{item.text}|{item.context.split('|')[0]}", context_used=True
            ).to_outputs()
            for item in batch
        ]
