"""The seq2seq network: padding never leaks into a row, its files round trip, configs checked."""

from __future__ import annotations

import json

import pytest
import torch
from msgspec.structs import replace

from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.model import ModelArgs, Seq2Seq, load, save
from botwerk.workers.chat.tokens import SPECIALS, Vocab
from botwerk.workers.errors import BadModelFolder

VOCAB = Vocab(SPECIALS + tuple("abcdefghij"))


@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_a_padded_row_computes_what_it_computes_alone(attention, bidirectional):
    config = ChatConfig(embed=8, hidden=12, layers=2, attention=attention,
                        bidirectional=bidirectional)  # fmt: skip
    torch.manual_seed(0)
    model = Seq2Seq(ModelArgs.of(VOCAB, config)).eval()
    short, long = [5, 6], [7, 8, 9, 10, 11]
    src = torch.tensor([[*short, 0, 0, 0], long])  # (2, 5), the short row padded
    tgt_in = torch.tensor([[2, 5, 6], [2, 7, 8]])
    batched = model(src, torch.tensor([2, 5]), tgt_in)  # (2, 3, V)
    alone = model(torch.tensor([short]), torch.tensor([2]), tgt_in[:1])
    assert batched.shape == (2, 3, VOCAB.size)
    torch.testing.assert_close(batched[:1], alone)


def test_decoding_step_by_step_equals_teacher_forcing():
    torch.manual_seed(1)
    model = Seq2Seq(ModelArgs.of(VOCAB, ChatConfig(embed=8, hidden=12, layers=1))).eval()
    src, lengths, tgt_in = torch.tensor([[5, 6, 7]]), torch.tensor([3]), torch.tensor([[2, 8, 9]])
    whole = model(src, lengths, tgt_in)
    memory = model.encode(src, lengths)
    state, steps = memory.state, []
    for t in range(3):
        logits, state = model.decode(tgt_in[:, t : t + 1], state, memory)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), whole)


def test_the_folder_rebuilds_the_model_vocabulary_and_config(tmp_path):
    config = ChatConfig(embed=8, hidden=12, layers=1, context=True)
    model = Seq2Seq(ModelArgs.of(VOCAB, config))
    save(tmp_path, model, VOCAB, config, rl={"samples": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    again, vocab, loaded = load(tmp_path, torch.device("cpu"))
    assert vocab == VOCAB and loaded == config and not again.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], tensor)
    assert json.loads((tmp_path / "model.json").read_text())["rl"] == {"samples": 3}


def test_a_folder_of_something_else_is_refused_by_name(tmp_path):
    with pytest.raises(BadModelFolder, match="no readable chat model"):
        load(tmp_path, torch.device("cpu"))
    (tmp_path / "model.json").write_text(json.dumps({"format": "botwerk.charrnn.v1"}))
    with pytest.raises(BadModelFolder, match=r"is not botwerk\.chat\.v1"):
        load(tmp_path, torch.device("cpu"))


@pytest.mark.parametrize(
    ("change", "message"),
    [({"hidden": 0}, "hidden must be >= 1"), ({"dropout": 1.0}, "dropout"),
     ({"attention": "bahdanau"}, "dot, general or concat"), ({"max_vocab": 3}, "max_vocab"),
     ({"lr": 0}, "lr and clip")],
)  # fmt: skip
def test_bad_configs_are_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        replace(ChatConfig(), **change)
    with pytest.raises(ValueError, match="unknown ChatConfig keys"):
        ChatConfig.from_dict({"hiden": 3})
