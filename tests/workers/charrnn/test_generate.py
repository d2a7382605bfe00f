"""charrnn generation: batched equals alone, odd primes, the model files round trip."""

from __future__ import annotations

import pytest
import torch

from botwerk.workers.charrnn.generate import Generator, Prompt
from botwerk.workers.charrnn.model import CharRNN, ModelArgs, Vocab, load, save
from botwerk.workers.charrnn.serve import CharRNNInput
from botwerk.workers.store import CorruptModel, ModelStore

from .conftest import CORPUS, TINY

MIXED = [
    CharRNNInput(prime="the quick", length=40, temperature=0.8, seed=1),
    CharRNNInput(prime="", length=7, temperature=1.0, top_k=3, seed=2),
    CharRNNInput(prime="a bard sings of the king, the queen", length=25, temperature=0.5, seed=3),
    CharRNNInput(prime="Ωλ€ lazy 🦊", length=60, temperature=2.0, top_k=1, seed=4),
    CharRNNInput(prime="x", length=1, temperature=1.5, top_k=100, seed=-5),
]


@pytest.fixture(scope="module")
def generator(trained):
    return Generator.from_folder(trained.folder, "cpu")


def test_a_batch_gives_each_request_the_text_it_gets_alone(generator):
    batched = generator.generate(MIXED)
    alone = [generator.generate([request])[0] for request in MIXED]
    assert batched == alone
    assert [len(text) for text in batched] == [r.length for r in MIXED]
    assert generator.generate(MIXED[::-1]) == batched[::-1]  # order and neighbours do not matter


def test_odd_primes_work(generator):
    empty, unknown = generator.generate([Prompt("", 30, seed=1), Prompt("ΩΩΩ\x00", 30, seed=1)])
    assert len(empty) == len(unknown) == 30
    assert set(empty + unknown) <= set(CORPUS)  # the unknown token is never written
    assert generator.generate([Prompt("x" * 500, 5, seed=9)])[0]  # a long prime


def test_top_k_1_is_greedy_and_unseeded_requests_still_work(generator):
    greedy = [Prompt("the ", 30, temperature=1.0, top_k=1, seed=s) for s in (1, 2)]
    first, second = generator.generate(greedy)
    assert first == second
    assert len(generator.generate([Prompt("the ", 10)])[0]) == 10
    assert generator.generate([]) == []


def test_save_publish_open_load_gives_identical_logits(tmp_path):
    vocab = Vocab.from_text(CORPUS)
    torch.manual_seed(0)
    model = CharRNN(ModelArgs.of(vocab, TINY)).eval()
    save(tmp_path / "built", model, vocab, TINY)
    store = ModelStore(str(tmp_path / "models"))
    store.publish("bard", "charrnn", tmp_path / "built", config=TINY.to_dict())
    stored = store.open("bard", kind="charrnn")
    loaded, loaded_vocab, config = load(stored.path, torch.device("cpu"))
    idx = torch.tensor([vocab.encode("the lazy dog")])
    with torch.inference_mode():
        assert torch.equal(model(idx)[0], loaded(idx)[0])
    assert loaded_vocab == vocab and config == TINY


def test_a_tampered_weights_file_is_refused(trained, tmp_path):
    store = ModelStore(str(tmp_path))
    store.publish("bard", "charrnn", trained.folder)
    weights = tmp_path / "bard" / "1" / "model.safetensors"
    body = bytearray(weights.read_bytes())
    body[-1] ^= 0xFF
    weights.write_bytes(bytes(body))
    with pytest.raises(CorruptModel, match=r"model\.safetensors does not match its sha256"):
        store.open("bard", kind="charrnn")
