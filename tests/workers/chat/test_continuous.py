"""Continuous batching of chat replies: a request joining mid-way gets the reply it gets alone."""

from __future__ import annotations

from botwerk.workers.chat.decode import Ask, Decoding, Line
from botwerk.workers.continuous import run_whole
from botwerk.workers.sampling import seeded


def steps(session, n):
    done = {}
    for _ in range(n):
        done.update(session.step())
    return done


def test_greedy_and_sampled_rows_that_join_mid_way_decode_as_alone(untrained):
    def line(i):  # greedy, sampled, a source longer and shorter than the running ones
        src, limit, seed, temperature, top_k = [
            ([9, 10, 11, 12, 13, 14, 15], 9, 1, 1.0, 0), ([5, 6, 7], 9, None, 1.0, 0),
            ([5] * 12, 8, 2, 2.0, 3), ([8], 9, None, 1.0, 0), ([16, 5], 7, 4, 0.7, 0),
        ][i]  # fmt: skip
        return Line(src, limit, None if seed is None else seeded(seed), temperature, top_k)

    session = Decoding(untrained)
    session.add({0: line(0)})
    done = steps(session, 3)
    session.add({1: line(1), 2: line(2)})
    done |= steps(session, 2)
    session.add({3: line(3), 4: line(4)})
    while len(session):
        done |= session.step()
    alone = [run_whole(Decoding(untrained), [line(i)])[0] for i in range(5)]
    assert [done[i] for i in range(5)] == alone
    assert max(len(reply) for reply in alone) > 3  # the first row was still running at the joins


def test_requests_of_every_mode_that_join_mid_way_reply_as_alone(responder):
    first = Ask("what do you eat?", mode="sample", seed=5, temperature=1.5, max_len=12)
    later = [Ask("how are you?"), Ask("hello", mode="beam", beam=3),
             Ask("hi", mode="sample", seed=9, temperature=0.5)]  # fmt: skip
    session = responder.session()
    session.add({0: first})
    done = session.step()
    session.add(dict(enumerate(later, 1)))
    while len(session):
        done |= session.step()
    assert [done[i] for i in range(4)] == [responder.reply([a])[0] for a in [first, *later]]
