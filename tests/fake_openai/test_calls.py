"""The fake server's call log, which the chaos harness counts payments from: a caller killed while the
model answers never gets the answer, the same question asked again has the same id, callers are named by
pid, random 429s come at the share asked for, and hint sentences vary only when sampling is on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.fake_openai.calls import Call, repeats
from tests.fake_openai.server import FakeOpenAI

ASK = """
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=int(sys.argv[3]))
reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": sys.argv[2]}])
print(reply.choices[0].message.content)
"""


def ask(fake: FakeOpenAI, question: str, retries: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", ASK, fake.base_url, question, str(retries)],
                            stdout=subprocess.PIPE, text=True)


def wait_until(predicate, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_answer_whose_caller_was_killed_is_paid_but_not_returned() -> None:
    with FakeOpenAI(latency_s=1.0, track_callers=True) as fake:
        doomed = ask(fake, "Describe the beach.")
        wait_until(lambda: fake.calls and fake.calls[0].caller is not None)
        doomed.send_signal(signal.SIGKILL)  # while the model is answering
        doomed.wait()
        survivor = ask(fake, "Describe the beach.")
        out, _ = survivor.communicate(timeout=60)
        wait_until(lambda: all(c.finished for c in fake.calls))
        first, second = fake.calls
    assert "captions" in out
    assert (first.caller, second.caller) == (doomed.pid, survivor.pid)
    assert first.question == second.question and first.paid and second.paid
    assert not first.returned and second.returned
    assert repeats([first, second]) == (0, 1)  # paid again, but only because the first caller died


def test_a_returned_answer_paid_again_is_avoidable_unless_its_caller_died_just_after() -> None:
    answered = Call("q", "caption", 200, started=1.0, finished=2.0, returned=True, caller=11)
    again = Call("q", "caption", 200, started=5.0, finished=6.0, returned=True, caller=12)
    assert repeats([answered, again]) == (1, 0)
    assert repeats([answered, again], died=lambda c: c.caller == 11) == (0, 1)


def test_random_429s_come_at_the_share_asked_for_and_hints_vary_only_when_sampling() -> None:
    with FakeOpenAI(throttle_share=0.5, seed=3, retry_after_s=0.01, vary_hints=True) as fake:
        out, _ = ask(fake, "Write a one-sentence caption of this video.", retries=20).communicate(timeout=60)
        statuses = [c.status for c in fake.calls]
        fake.configure(throttle_share=0.0)
        again, _ = ask(fake, "Write a one-sentence caption of this video.").communicate(timeout=60)
    assert statuses[-1] == 200 and 429 in statuses
    assert out != again and "steps along a sunny beach" in out  # temperature unset: a sampling model
    assert [c.kind for c in fake.calls] == ["hint"] * len(fake.calls)
