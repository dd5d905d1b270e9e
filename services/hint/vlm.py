"""The hint model: one short sentence about the clip from a small vision model behind an OpenAI-compatible
endpoint, shown the same 2x4 grid the caption model gets. Its reply is trimmed to one sentence and capped
at MIRA_HINT_MAX_WORDS words, because the hint is quoted into the caption prompt.

It asks at temperature 0 with a fixed seed (MIRA_HINT_SEED), and `fingerprint` names everything that
shapes the answer, so a stored hint can stand in for asking again (shared.store.hints).
"""

from __future__ import annotations

import re

import openai

import prompt
from services.hint.settings import HintSettings
from shared import ids, modelcall
from shared.modelcall import data_url

HINT_PROMPT = (
    "{grid}\n\nWrite a one-sentence caption of this video in at most {words} words: the main subject and "
    "what it does, and where if it matters. Do not mention frames, the grid or the image. Reply with the "
    "sentence only."
)
# A sentence ends at . ! or ? followed by a capital, unless the word before it is a short abbreviation.
_SENTENCE_END = re.compile(r"(?:(?<=\w{3}[.!?])|(?<=\w{3}[.!?][\"']))\s+(?=[A-Z\"'])")
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:caption|hint|answer|sentence)(?:\*\*)?\s*:\s*", re.IGNORECASE)


def one_sentence(text: str | None, max_words: int) -> str | None:
    """The first sentence of a reply, without label or quotes, at most `max_words` words; None if empty."""
    if not text:
        return None
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip()
    sentence = _SENTENCE_END.split(line, maxsplit=1)[0].strip().strip("\"'*` ")
    words = sentence.split()
    if not words:
        return None
    if len(words) > max_words:
        # Cut at the word limit; drop a dangling joiner so the hint still reads as a sentence.
        words = words[:max_words]
        while len(words) > 1 and words[-1].lower().strip(",;:") in {"and", "or", "with", "while", "the", "a",
                                                                        "an", "of", "in", "on", "at", "to"}:
            words.pop()
        sentence = " ".join(words).rstrip(",;:") + "."
    return sentence


class HintModel:
    def __init__(self, settings: HintSettings, client: openai.AsyncOpenAI | None = None) -> None:
        self.s = settings
        self.client = client or modelcall.client(settings.hint_api_key, settings.hint_base_url,
                                                 settings.hint_timeout_s, settings.hint_max_retries)

    async def aclose(self) -> None:
        await self.client.close()

    @property
    def fingerprint(self) -> str:
        """The hint model and every setting that changes what it is asked."""
        s = self.s
        return ids.digest("hint-request", s.hint_model, HINT_PROMPT, prompt.grid_description(), s.hint_max_words,
                          s.hint_image_detail, s.hint_max_output_tokens, s.hint_seed, length=32)

    async def describe(self, grid_jpeg: bytes) -> str | None:
        """One capped sentence, or None when the model said nothing usable. API errors propagate."""
        text = HINT_PROMPT.format(grid=prompt.grid_description(), words=self.s.hint_max_words)
        reply = await self.client.chat.completions.create(
            model=self.s.hint_model, max_completion_tokens=self.s.hint_max_output_tokens,
            temperature=0, seed=self.s.hint_seed,
            messages=[{"role": "user", "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": data_url(grid_jpeg), "detail": self.s.hint_image_detail}},
            ]}])
        message = reply.choices[0].message if reply.choices else None
        if message is None or message.refusal:
            return None
        return one_sentence(message.content, self.s.hint_max_words)
