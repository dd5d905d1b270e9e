"""Each quality rule on what it must catch and on the tricky negatives a literal rule gets wrong, then every
rule at once on the labelled corpus (half clean, half with one defect each)."""

from __future__ import annotations

from collections import Counter

import pytest

from cli.localmodel.corpus import labelled
from shared.qa.rules import RULES, Context, check, text_hash

CLEAN_TAIL = (" The light is soft and even across the scene, and the movement stays slow and continuous "
              "from the start of the clip to its end, with no interruptions.")


def rules_of(text: str, field: str = "dense_caption", **ctx: object) -> set[str]:
    return {r.rule for r in check({field: text + CLEAN_TAIL}, Context(**ctx))} - {"length"}  # type: ignore[arg-type]


POSITIVES = [
    ("medium", "Across the eight frames, a man walks along the beach with his dog."),
    ("medium", "The images show a boy flying a kite over a field."),
    ("medium", "Each panel depicts the cyclist at a different point on the road."),
    ("medium", "In the top left, a woman waves at the camera."),
    ("medium", "The grid layout makes the sequence easy to follow as the car moves."),
    ("medium", "A woman stands on the left in the top row and sits down in the bottom row."),
    ("medium", "The collage presents a chef at work in a kitchen."),
    ("narration", "In the first frame a dog sits on the grass near a bench."),
    ("narration", "A man stands still, and in the next frame he starts to run."),
    ("narration", "By the final image the sun has set over the hills."),
    ("narration", "The second shot shows the same street from a higher angle."),
    ("narration", "The motion is shown frame-by-frame as the bird lifts off."),
    ("refusal", "I'm sorry, but I can't help with describing the people in this video."),
    ("refusal", "I am unable to describe this video because the image is too dark."),
    ("refusal", "As an AI, I cannot identify the people in the scene."),
    ("markup", "**Main subject:** a tall man in a grey coat walks past a shop."),
    ("markup", "- a man walks\n- a dog follows him along the path"),
    ("markup", "## Description\nA man walks down a long road at dusk."),
    ("language", "Un homme marche le long de la plage avec son chien pendant que les vagues arrivent."),
    ("language", "Ein Mann geht langsam mit seinem Hund über den Strand, während die Wellen kommen."),
    ("language", "一个男人牵着他的狗沿着海滩慢慢地走着，海浪拍打着岸边。"),
]
NEGATIVES = [
    "A grid of solar panels on a roof glints in the sun as two workers walk past.",
    "A picture frame on the wall holds a faded photo of a family at the seaside.",
    "The footage has visible film grain and warm, slightly faded tones.",
    "The first car in the queue moves forward slowly as the light turns green.",
    "The video is a slideshow of family photographs; each image fades into the next one.",
    "The camera frames the subject in a medium shot at eye level.",
    "Shot at 24 frames per second with a steady handheld camera.",
    "A small logo sits in the top-left corner of the screen throughout.",
    "Children sit in the front row of seats, and marble columns rise behind them.",
    "Workers kneel to bolt the last panel onto the rail next to the solar panels.",
    "A man mouths 'I'm sorry' to the woman, who turns away from him.",
    'A sign on the door reads "Sorry, we are closed" in red letters.',
    "The character cannot reach the top shelf and climbs onto a chair.",
    "A café sign reads Boulangerie du Coin above the window of the shop.",
    "A T-shirt with #1 DAD printed on it hangs in the window of a shop.",
    "The score changes from 2 - 1 to 3 - 1 as the crowd cheers in the stadium.",
    "Rows of crops stretch toward the hills, and a tractor moves along the second row of vines.",
    "A window frame casts a shadow across the floor as the sun moves.",
    "The cyclist's bike frame is white, and he rides past a power grid station.",
]


@pytest.mark.parametrize(("rule", "text"), POSITIVES)
def test_each_rule_catches_its_defect_and_quotes_the_offending_words(rule: str, text: str) -> None:
    reasons = [r for r in check({"dense_caption": text}, Context()) if r.rule == rule]
    assert reasons, f"{rule} missed: {text!r}"
    quoted = reasons[0].detail.rsplit('"', 2)[1]
    assert quoted and quoted in " ".join(text.split())  # the review page highlights these words


@pytest.mark.parametrize("text", NEGATIVES)
def test_tricky_negatives_are_not_flagged(text: str) -> None:
    assert rules_of(text) == set()


@pytest.mark.parametrize(("text", "ending"), [
    ("A woman walks her dog along the river and stops near the", "without a full stop"),
    ("A man waves as the train pulls away, e.g.", 'on "e.g."'),
    ("The boat drifts toward the harbour while...", "mid-sentence"),
    ("The girl runs toward the.", 'on "the."'),
])
def test_a_part_cut_mid_sentence_is_cut_off(text: str, ending: str) -> None:
    [reason] = [r for r in check({"camera_caption": text}, Context()) if r.rule == "cut_off"]
    assert ending in reason.detail and reason.field == "camera_caption"


@pytest.mark.parametrize("text", ["The show ends at 9 p.m.", 'He shouts "Go!"', "It rains (heavily).",
                                  "The sign says 'Stop.'"])
def test_finished_sentences_with_closers_are_not_cut_off(text: str) -> None:
    assert "cut_off" not in {r.rule for r in check({"style_caption": text}, Context())}


def test_repetition_loop_and_a_part_repeating_another_are_caught_but_common_phrases_are_not() -> None:
    loop = " ".join(["The man walks forward slowly and the dog follows him."] * 5)
    assert "repetition" in rules_of(loop)
    natural = ("In the background a bus passes, and in the background a cyclist waits at the light while "
               "a woman crosses the road with her shopping bags and a small child.")
    assert "repetition" not in rules_of(natural)
    same = "A man walks his dog along the beach while waves roll in behind them at sunset."
    reasons = check({"dense_caption": same, "main_object_caption": same}, Context())
    assert ("repetition", "main_object_caption") in {(r.rule, r.field) for r in reasons}


def test_length_bounds_per_part_come_from_the_context() -> None:
    text = "A fox trots across the snow and pounces on a vole near the trees."
    assert [r.rule for r in check({"dense_caption": text}, Context())] == ["length"]
    assert check({"dense_caption": text}, Context(bounds={"dense_caption": (5, 50)})) == []
    assert "14 words, expected 30-260" in check({"dense_caption": text}, Context())[0].detail


def test_restating_the_hint_is_caught_but_a_dense_caption_that_builds_on_it_is_not() -> None:
    hint = "A man rides a bicycle down a steep hill."
    assert "restates_hint" in rules_of("", hint=hint) | {
        r.rule for r in check({"dense_caption": "The video shows a man riding a bicycle down a steep hill."},
                              Context(hint=hint))}
    builds = ("A man rides a bicycle down a steep hill on a winding country road, leaning into each bend as "
              "sheep graze in the fields beside him and a tractor waits at the bottom by a stone farmhouse.")
    assert "restates_hint" not in rules_of(builds, hint=hint)


def test_the_duplicate_rule_reports_what_the_caller_found_and_hashes_ignore_case_and_punctuation() -> None:
    [reason] = [r for r in check({"dense_caption": "A fox."}, Context(duplicate="clip c7")) if r.rule == "duplicate"]
    assert reason.detail.startswith("the same dense caption as clip c7")
    assert rules_of("A fox runs.") == set()
    assert text_hash("A fox, running!") == text_hash("a fox running") != text_hash("a fox walking")


def test_every_rule_has_precision_and_recall_of_at_least_095_on_the_labelled_corpus() -> None:
    items = labelled(400)
    assert len(items) >= 300 and sum(i.rule is None for i in items) == len(items) // 2
    hits, wrong, missed = Counter[str](), Counter[str](), Counter[str]()
    for item in items:
        ctx = Context(hint=item.hint, duplicate="clip other" if item.rule == "duplicate" else None)
        found = {r.rule for r in check(item.answer.parts(), ctx)}
        for rule in found:
            (hits if rule == item.rule else wrong)[rule] += 1
        if item.rule is not None and item.rule not in found:
            missed[item.rule] += 1
    for rule in RULES:
        assert hits[rule] / (hits[rule] + wrong[rule]) >= 0.95, (rule, hits[rule], wrong[rule])
        assert hits[rule] / (hits[rule] + missed[rule]) >= 0.95, (rule, hits[rule], missed[rule])
