"""Decoding: greedy, sampled and beam replies are the same in a batch as alone."""

from __future__ import annotations

from botwerk.workers.chat.decode import Ask
from botwerk.workers.chat.model import BANNED
from botwerk.workers.chat.tokens import END

SOURCES = [[5, 6, 7], [8], [9, 10, 11, 12, 13, 14, 15], [16, 5]]
LIMITS = [9, 4, 9, 1]


def test_greedy_in_a_batch_equals_greedy_alone(untrained):
    batched = untrained.greedy(SOURCES, LIMITS)
    assert batched == [untrained.greedy([s], [n])[0] for s, n in zip(SOURCES, LIMITS, strict=True)]
    assert all(len(reply) <= n for reply, n in zip(batched, LIMITS, strict=True))


def test_a_seeded_sample_is_the_same_in_a_batch_as_alone(untrained):
    temps, ks, seeds = [1.0, 0.5, 2.0, 1.0], [0, 3, 0, 1], [1, 2, 3, 4]
    batched = untrained.sample(SOURCES, LIMITS, temps, ks, seeds)
    each = zip(SOURCES, LIMITS, temps, ks, seeds, strict=True)
    alone = [untrained.sample([s], [n], [t], [k], [seed])[0] for s, n, t, k, seed in each]
    assert batched == alone
    assert untrained.sample(SOURCES, LIMITS, temps, ks, seeds) == batched  # seeded: repeatable
    assert untrained.sample(SOURCES[:1], [9], [1.0], [1], [7]) == untrained.greedy(SOURCES[:1], [9])


def test_beam_search_in_a_batch_equals_beam_search_alone(untrained):
    batched = untrained.beam(SOURCES, LIMITS, 4)
    assert batched == [untrained.beam([s], [n], 4)[0] for s, n in zip(SOURCES, LIMITS, strict=True)]
    assert untrained.beam(SOURCES, LIMITS, 1) == untrained.greedy(SOURCES, LIMITS)


def test_replies_never_hold_special_tokens(untrained):
    for reply in (untrained.greedy(SOURCES, LIMITS), untrained.beam(SOURCES, LIMITS, 3),
                  untrained.sample(SOURCES, LIMITS, [3.0] * 4, [0] * 4, [9] * 4)):  # fmt: skip
        assert not {t for r in reply for t in r} & {*BANNED, END}


def test_log_probs_carry_gradients_and_are_probabilities(untrained):
    replies = untrained.greedy(SOURCES, LIMITS)
    logp = untrained.log_probs(SOURCES, replies)
    assert logp.shape == (4,) and bool((logp <= 0).all())
    logp.sum().backward()
    assert untrained.model.head.weight.grad is not None


def test_reply_answers_each_request_in_order_whatever_its_mode(responder):
    asks = [Ask("hello", mode="beam", beam=3), Ask("how are you?"),
            Ask("what do you eat?", mode="sample", seed=5, temperature=0.5),
            Ask("hello", mode="beam", beam=2), Ask("hi", max_len=2)]  # fmt: skip
    together = responder.reply(asks)
    assert together == [responder.reply([ask])[0] for ask in asks]
    assert all(a.text and a.text[0].isupper() for a in together[:4])
    assert together[4].tokens <= 2
    assert not any(a.context_used for a in together)  # the tiny model reads no context
