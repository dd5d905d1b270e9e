"""The caption quality rules: what grid captioning gets wrong, caught on every answer for free (no model call).

Pure: captions and a Context in, QualityReasons out; no I/O. The one fact a rule needs from the store (is
this dense caption already another clip's?) is looked up by the caller and passed in as `Context.duplicate`.
Each rule is one function over the parsed parts that returns (field, detail) pairs; `check` runs them all.
A detail quotes the offending words verbatim (the review page highlights them) as its last quoted text.

Rules read words in context, not alone: "a grid of solar panels", "a picture frame on the wall", "film
grain", "the first car in the queue" and a slideshow's "each photo" are what the video shows, not the grid.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from shared.messages import QualityReason
from shared.qa import words as W

# Words per part: (fewest, most) before a part is "far outside its expected length" (MiraData's means: short
# ~14, dense ~88, main object ~66, background ~65, camera ~65, style ~30).
DEFAULT_BOUNDS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "short_caption": (4, 45), "dense_caption": (30, 260), "main_object_caption": (20, 200),
    "background_caption": (20, 200), "camera_caption": (12, 200), "style_caption": (5, 90)})
FIELD_ORDER = ("short_caption", "dense_caption", "main_object_caption", "background_caption", "camera_caption",
               "style_caption")
_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\u024F]+(?:'[a-z]+)?|[^\sA-Za-z0-9-]")  # hyphens split words
# The tokens that are words, found in C rather than filtered in Python (a third of the rules' time): the same
# first branch, and a lone letter or digit of another script ([^\W_] is str.isalnum for one character).
_WORD = re.compile(r"[A-Za-z0-9\u00C0-\u024F]+(?:'[a-z]+)?|[^\W_]")
_QUOTED = re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d')
_TERMINAL = ".!?"
_CLOSERS = "\"')]\u201d\u2019"


@dataclass(frozen=True)
class Context:
    hint: str | None = None  # the hint the model was given, if any
    language: str = "en"  # the language the prompt asks for
    bounds: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=lambda: DEFAULT_BOUNDS)
    repeat_share: float = 0.2  # share of repeated 3-word sequences that makes a part a repetition loop
    duplicate: str | None = None  # the other clip (or grid) whose answer has this very dense caption


@dataclass(frozen=True)
class Part:
    """One caption part, tokenized once for every rule: lower-cased tokens (and, when a rule quotes them,
    their spans in `text`)."""

    field: str
    text: str
    tokens: list[str] = dataclasses.field(repr=False)
    words: list[str] = dataclasses.field(repr=False)  # the tokens that are words

    @classmethod
    def of(cls, name: str, text: str) -> Part:
        lower = text.lower()
        return cls(name, text, _TOKEN.findall(lower), _WORD.findall(lower))

    @functools.cached_property
    def spans(self) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(self.text)]

    def at(self, i: int) -> str:
        return self.tokens[i] if 0 <= i < len(self.tokens) else ""

    def excerpt(self, first: int, last: int) -> str:
        """The text from token `first` through token `last`, as written."""
        first, last = max(first, 0), min(last, len(self.tokens) - 1)
        return self.text[self.spans[first][0]:self.spans[last][1]]



class Answer(list[Part]):
    """The parts of one answer, with what several rules read about the whole of it computed once."""

    @functools.cached_property
    def pictures(self) -> bool:
        """A video that is itself made of pictures (a slideshow, a gallery): it talks about images rightly."""
        text = " ".join(p.text.lower() for p in self)
        return any(word in text for word in W.PICTURE_CONTENT)

    @functools.cached_property
    def things(self) -> frozenset[str]:
        """Units the video itself holds: "solar panels" make "the last panel" a panel on the roof, a
        slideshow makes "the next image" one of its photos."""
        held = {tok.removesuffix("s") for p in self if W.UNITS.intersection(p.tokens)
                for i, tok in enumerate(p.tokens) if tok in W.UNITS and _physical(p, i)}
        return frozenset(held | ({"image", "picture", "still"} if self.pictures else set()))

    @functools.cached_property
    def narrated(self) -> dict[str, list[tuple[int, int]]]:
        return {p.field: _narration_spans(p, self.things) for p in self}


Hit = tuple[str, str]  # (field, detail)
Rule = Callable[[Answer, Context], list[Hit]]


def quoted(text: str, limit: int = 80) -> str:
    """Offending words as a detail quotes them (no double quotes inside, so the quote can be found again)."""
    text = " ".join(text.split()).replace('"', "'")
    return f'"{text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]}"'


def text_hash(text: str) -> str:
    """The duplicate rule's key: the words of a caption, case and punctuation aside."""
    norm = " ".join(re.findall(r"\w+", text.lower()))
    return hashlib.sha256(norm.encode()).hexdigest()[:32]


# ---- frames, grids and narration ------------------------------------------------------------------------
_NARRATION_TRIGGERS = W.ORDINALS | W.UNITS | {"one"}


def _narration_spans(p: Part, things: frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Token ranges narrating the grid cell by cell: "the first frame", "the next two images", "frame by
    frame", "from one image to the next", "frame 3"; not about `things` the video holds."""
    out, t = [], p.tokens

    def unit(j: int) -> bool:
        if p.at(j) not in W.UNITS:
            return False
        # "In the first frame," / "by the final image" narrate even where the video holds picture frames.
        where = p.at(i - 1) == "the" and p.at(i - 2) in ("in", "by", "from", "at")
        return where or p.at(j).removesuffix("s") not in things

    for i in [i for i, tok in enumerate(t) if tok in _NARRATION_TRIGGERS]:
        tok = t[i]
        if tok in W.ORDINALS:
            if unit(i + 1):
                out.append((i, i + 1))
            elif p.at(i + 1) in W.COUNTS and unit(i + 2):
                out.append((i, i + 2))
        elif tok in W.UNITS and p.at(i + 1) in ("by", "to") and p.at(i + 2) in W.UNITS:
            out.append((i, i + 2))
        elif tok in ("frame", "image", "panel") and p.at(i + 1) in ("1", "2", "3", "4", "5", "6", "7", "8",
                                                                   "one", "two", "three", "four", "five",
                                                                   "six", "seven", "eight"):
            out.append((i, i + 1))
        elif tok == "one" and p.at(i + 1) in W.UNITS and p.at(i + 2) == "to" and p.at(i + 4) in W.ORDINALS | W.UNITS:
            out.append((i, i + 4))
    return out


def _physical(p: Part, i: int) -> bool:
    """Whether the grid-like word at token i names a thing in the video ("solar panels", "frame of the door",
    "grid pattern", "the camera frames the man")."""
    before, after = p.at(i - 1), p.at(i + 1)
    if before in W.PHYSICAL or after in W.PHYSICAL_AFTER or before in ("off", "freeze"):
        return True
    if after == "of":  # "a grid of solar panels", "the frame of the door": physical unless the video's cells
        nxt = [w for w in (p.at(i + 2), p.at(i + 3), p.at(i + 4)) if w not in W.DETERMINERS | W.COUNTS]
        return not nxt or nxt[0] not in W.GRID_WORDS
    # A verb: "the camera frames the subject".
    return p.tokens[i] in ("frames", "frame") and after in W.DETERMINERS and before not in W.PICKERS | W.DETERMINERS


def _medium_at(p: Part, i: int, pictures: bool, things: frozenset[str]) -> bool:
    tok, before, after = p.tokens[i], p.at(i - 1), p.at(i + 1)
    if tok.removesuffix("s") in things and before not in ("each", "every", "these", "eight", "8"):
        return False
    if tok in ("grid", "collage"):
        return not _physical(p, i) and not (pictures and tok == "collage")
    if tok in ("frames", "images", "pictures", "stills"):
        if pictures and tok != "frames":
            return False
        return not _physical(p, i)
    if tok in ("frame", "image", "picture", "panel", "panels"):
        if pictures and tok in ("image", "picture"):
            return False
        if _physical(p, i):
            return False
        across = before in W.DETERMINERS | W.PICKERS and p.at(i - 2) in ("across", "throughout", "between", "among")
        return before in W.PICKERS or after in W.SHOW_VERBS or across
    if tok in ("row", "rows", "column", "columns"):
        if after == "of" or before in W.PHYSICAL:
            return False
        return before in W.PICKERS or (tok in ("rows", "columns") and after == "and" and p.at(i + 2) in (
            "rows", "columns") and p.at(i + 3) != "of")
    if tok in ("top", "bottom", "upper", "lower") and after in ("left", "right"):
        beyond = p.at(i + 2)
        if beyond == "corner":  # a logo "in the top-left corner of the screen" is in the video
            return p.at(i + 5) in ("grid", "image", "collage", "panel", "picture")
        return beyond in W.UNITS or beyond in W.SHOW_VERBS or beyond in ("cell", "quadrant", ",", ".", "")
    return False


_MEDIUM_TOKENS = frozenset(["grid", "collage", "frames", "images", "pictures", "stills", "frame", "image", "picture", "panel", "panels", "row", "rows", "column", "columns", "top", "bottom", "upper", "lower"])


def medium(answer: Answer, ctx: Context) -> list[Hit]:
    """Talk about the medium (frames, grid, panels, images, collage, rows and columns, "top left")."""
    hits = []
    for p in answer:
        claimed = {k for a, b in answer.narrated[p.field] for k in range(a, b + 1)}
        found = [i for i, tok in enumerate(p.tokens) if tok in _MEDIUM_TOKENS and i not in claimed
                 and _medium_at(p, i, answer.pictures, answer.things)] if _MEDIUM_TOKENS.intersection(p.tokens) else []
        if found:
            i = found[0]
            end = i + 1 if p.at(i + 1) in W.SHOW_VERBS | {"left", "right"} else i
            hits.append((p.field, f"talks about the grid image, not the video: {quoted(p.excerpt(i - 2, end))}"))
    return hits


def narration(answer: Answer, ctx: Context) -> list[Hit]:
    """Frame-by-frame narration: ordinals with frame/image/shot, "in the next frame", "frame by frame"."""
    hits = []
    for p in answer:
        spans = answer.narrated[p.field]
        if spans:
            a, b = spans[0]
            hits.append((p.field, f"narrates frame by frame: {quoted(p.excerpt(a - 1, b))}"))
    return hits


# ---- answers that are not captions -----------------------------------------------------------------------
_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am) sorry,? but|sorry,? but I\b|I apologi[sz]e\b|as an AI\b|as a language model|"
    r"I(?:'m| am)? ?(?:unable|not able) to (?:assist|help|comply|describe|provide|identify|determine|see|view|"
    r"process|analy[sz]e|fulfil)|I (?:cannot|can't|can not|won't) (?:assist|help|comply|describe|provide|"
    r"identify|determine|see|view|process|analy[sz]e|fulfil)|not possible (?:for me )?to (?:describe|determine)|"
    r"(?:cannot|can't) be (?:described|determined) from (?:the|this) (?:image|video))",
    re.IGNORECASE)


_REFUSAL_WORDS = frozenset(["sorry", "apologise", "apologize", "unable", "able", "cannot", "can't", "can", "won't", "ai", "model", "possible"])


def refusal(answer: Answer, ctx: Context) -> list[Hit]:
    """Refusal or apology text where a caption should be (quoted speech in the video aside)."""
    hits = []
    for p in answer:
        if not _REFUSAL_WORDS.intersection(p.words):
            continue
        match = _REFUSAL.search(_QUOTED.sub(" ", p.text))
        if match:
            hits.append((p.field, f"refuses or apologises instead of describing: {quoted(match.group())}"))
    return hits


def cut_off(answer: Answer, ctx: Context) -> list[Hit]:
    """A part that ends mid-sentence (cut at the output limit, or by a parser)."""
    hits = []
    for p in answer:
        text = p.text.rstrip()
        body = text.rstrip(_CLOSERS)
        words = p.words
        if not words:
            continue
        tail = quoted(" ".join(text.split()[-6:]))
        if text.endswith(("...", "\u2026")) or body[-1:] in (":", ",", ";", "-"):
            hits.append((p.field, f"ends mid-sentence: {tail}"))
        elif body[-1:] not in _TERMINAL:
            hits.append((p.field, f"ends mid-sentence, without a full stop: {tail}"))
        elif words[-1] in W.DANGLING or text.split()[-1].lower() in W.ABBREVIATIONS:
            hits.append((p.field, f"ends mid-sentence, on {quoted(text.split()[-1])}: {tail}"))
    return hits


def repetition(answer: Answer, ctx: Context) -> list[Hit]:
    """A repetition loop: a share of repeated 3-word sequences over the threshold, or a part that repeats
    another part word for word."""
    hits: list[Hit] = []
    seen: dict[str, str] = {}
    for p in answer:
        w = p.words
        key = " ".join(w)
        if len(w) >= 6 and key in seen:
            hits.append((p.field, f"repeats {seen[key]} word for word: {quoted(' '.join(p.text.split()[:8]))}"))
            continue
        seen.setdefault(key, p.field)
        grams = list(zip(w, w[1:], w[2:], strict=False))
        if len(grams) < 10:
            continue
        share = 1 - len(set(grams)) / len(grams)
        if share > ctx.repeat_share:  # counted only then: most parts repeat little
            gram, n = Counter(grams).most_common(1)[0]
            detail = f"repeats itself ({share:.0%} of 3-word sequences; {n} times): {quoted(' '.join(gram))}"
            hits.append((p.field, detail))
    return hits


def length(answer: Answer, ctx: Context) -> list[Hit]:
    """A part far outside its expected length (bounds per part in settings)."""
    hits = []
    for p in answer:
        low, high = ctx.bounds.get(p.field, (1, 10_000))
        n = len(p.words)
        if n < low or n > high:
            hits.append((p.field, f"{n} words, expected {low}-{high}: {quoted(' '.join(p.text.split()[:10]))}"))
    return hits


_MARKUP = re.compile(r"\*\*|__|`|\[[^\]]+\]\([^)]*\)|^ {0,3}#{1,6} |^\s*(?:[-*\u2022]|\d{1,2}[.)]) (?=\S)",
                     re.MULTILINE)
_LABEL = re.compile(r"^\W*(?:dense|detailed|main(?: object| subject)?|background|camera|style|short)"
                    r"(?:[ _](?:caption|description))?\W*:", re.IGNORECASE)


_MARKUP_CHARS = frozenset("*_`#[\n-\u2022")


def markup(answer: Answer, ctx: Context) -> list[Hit]:
    """Markdown or list syntax inside a part (bold, headings, bullets, numbering, a leaked part label)."""
    hits = []
    for p in answer:
        match = (_MARKUP.search(p.text) if _MARKUP_CHARS.intersection(p.text) or p.text[:1].isdigit() else None
                 ) or _LABEL.match(p.text)
        if match:
            start = match.start()
            hits.append((p.field, f"markdown or list syntax: {quoted(p.text[start:start + 30])}"))
    return hits


def _script(text: str) -> str | None:
    if text.isascii():
        return None
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    odd = [c for c in letters if ord(c) > 0x024F]
    if len(odd) < 0.3 * len(letters):
        return None
    code = ord(odd[0])
    return ("Cyrillic" if 0x0400 <= code < 0x0530 else "Arabic" if 0x0600 <= code < 0x0700 else
            "Chinese or Japanese" if 0x3000 <= code < 0xA000 else "Korean" if 0xAC00 <= code < 0xD7B0 else
            "non-Latin script")


def language(answer: Answer, ctx: Context) -> list[Hit]:
    """A language other than the one asked for (function words of six languages, and the script)."""
    wanted = W.LANGUAGE_NAMES.get(ctx.language, ctx.language)
    own = W.FUNCTION_WORDS.get(ctx.language, frozenset())
    hits = []
    for p in answer:
        words = p.words
        script = _script(p.text)
        name = None
        if script is not None:
            name = script
        elif len(words) >= 8 and (share := sum(map(own.__contains__, words)) / len(words)) < 0.2:
            rivals = [(sum(map(fw.__contains__, words)) / len(words), lang) for lang, fw in W.FUNCTION_WORDS.items()
                      if lang != ctx.language]
            best, lang = max(rivals)
            if best >= 0.15 and best > 2 * share:
                name = W.LANGUAGE_NAMES[lang]
        if name is not None:
            hits.append((p.field, f"written in {name}, not {wanted}: {quoted(' '.join(p.text.split()[:8]))}"))
    return hits


def _content(words: list[str]) -> set[str]:
    stop = W.FUNCTION_WORDS["en"] | W.GENERIC
    return {w.removesuffix("s") for w in words if w not in stop and len(w) > 2}


def restates_hint(answer: Answer, ctx: Context) -> list[Hit]:
    """A dense caption that only restates the hint (adds almost nothing the hint did not say)."""
    dense = next((p for p in answer if p.field == "dense_caption"), None)
    if dense is None or not ctx.hint:
        return []
    hinted = _content(Part.of("hint", ctx.hint).words)
    said = _content(dense.words)
    new = said - hinted
    if hinted and len(said & hinted) >= max(2, len(hinted) // 2) and len(new) <= max(3, len(hinted) // 3):
        detail = f"only restates the hint ({len(new)} new words): {quoted(' '.join(dense.text.split()[:12]))}"
        return [("dense_caption", detail)]
    return []


def duplicate(answer: Answer, ctx: Context) -> list[Hit]:
    """The same dense caption as another clip with a different grid (boilerplate, or the wrong clip's
    answer): the caller looks the text hash up in the store and passes what it found."""
    dense = next((p for p in answer if p.field == "dense_caption"), None)
    if dense is None or ctx.duplicate is None:
        return []
    detail = f"the same dense caption as {ctx.duplicate}: {quoted(' '.join(dense.text.split()[:10]))}"
    return [("dense_caption", detail)]


RULES: dict[str, Rule] = {
    "refusal": refusal, "language": language, "markup": markup, "narration": narration, "medium": medium,
    "cut_off": cut_off, "repetition": repetition, "restates_hint": restates_hint, "duplicate": duplicate,
    "length": length,
}
# A part these rules flag needs no "length" reason too: a refusal, a cut or a loop explains its length.
EXPLAINS_LENGTH = frozenset({"refusal", "cut_off", "repetition", "restates_hint", "language"})


def check(parts: Mapping[str, str | None], ctx: Context) -> list[QualityReason]:
    """Every rule over the model-written parts (column name -> text; None or missing parts are skipped):
    the reasons, in column order then rule order; empty means the answer is ok."""
    parsed = Answer(Part.of(name, parts[name] or "") for name in FIELD_ORDER if parts.get(name) is not None)
    found: dict[str, list[tuple[str, str]]] = {}
    for name, rule in RULES.items():
        for fld, detail in rule(parsed, ctx):
            found.setdefault(fld, []).append((name, detail))
    reasons = []
    for fld in FIELD_ORDER:
        hits = found.get(fld, [])
        explained = any(name in EXPLAINS_LENGTH for name, _ in hits)
        reasons += [QualityReason(rule=name, field=fld, detail=detail) for name, detail in hits
                    if not (name == "length" and explained)]
    return reasons


def score(reasons: list[QualityReason]) -> int:
    """How bad an answer is, for keeping the better of two: its distinct problems."""
    return len({(r.rule, r.field) for r in reasons})
