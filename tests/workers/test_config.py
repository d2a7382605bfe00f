"""Model configs: one style for every kind, refusing unknown keys and bad values by name."""

from __future__ import annotations

import pytest

from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.chat.config import ChatConfig, SCSTConfig
from botwerk.workers.config import ModelConfig
from botwerk.workers.word2vec.config import Word2VecConfig

CONFIGS = [CharRNNConfig, ChatConfig, SCSTConfig, Word2VecConfig]


@pytest.mark.parametrize("kind", CONFIGS)
def test_every_config_round_trips_through_a_dict(kind: type[ModelConfig]) -> None:
    config = kind()
    assert kind.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=f"unknown {kind.__name__} keys"):
        kind.from_dict({**config.to_dict(), "surprise": 1})


def test_a_bad_value_read_back_is_a_value_error_that_names_it() -> None:
    with pytest.raises(ValueError, match=r"CharRNNConfig: .*hidden must be >= 1"):
        CharRNNConfig.from_dict({"hidden": 0})
    with pytest.raises(ValueError, match="CharRNNConfig: Expected `int`"):
        CharRNNConfig.from_dict({"hidden": "many"})
