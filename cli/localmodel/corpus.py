"""Captions written to read like a grid captioner's real answers, clean or with one defect each.

The tests, `make bench-quality` and the fake model server (tests/fake_openai) all draw from here: item `i`
is one scene (of SCENES, several of them the tricky negatives a literal rule gets wrong: solar panels on a
roof, a picture frame on the wall, film grain, the first car in a queue, a slideshow) with details chosen
by `i` in mixed radix, so no two items share a dense caption. Part lengths sit near MiraData's means
(dense ~88 words, main object ~66, background ~65, camera ~65, style ~30, short ~14).
`defective(clean, rule, i)` gives the same answer with one defect that `rule` should catch.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.messages import Captions


@dataclass(frozen=True)
class Scene:
    subject: str  # "a young woman in a yellow raincoat"
    they: str  # pronoun: "she"
    action: str  # "walks her terrier along a wet cobbled street"
    later: str  # what happens later: "stops to let the dog sniff a lamppost"
    place: str  # "in an old town"
    background: str  # a sentence about the surroundings
    looks: str  # appearance sentence of the subject
    camera: str  # camera sentence
    style: str  # style phrase
    hint: str  # a Panda-70M style hint


SCENES = (
    Scene("a young woman in a yellow raincoat", "she", "walks her terrier along a wet cobbled street",
          "stops to let the dog sniff a lamppost before crossing", "in an old European town",
          "Stone houses with green shutters line both sides, and puddles reflect the grey sky between them.",
          "Her hood is down, her dark hair is tied back, and she holds the red leash loosely in her left hand.",
          "The camera tracks alongside her at waist height, keeping her in the left third of the shot.",
          "naturalistic, softly overcast daylight with muted greens and a pop of yellow",
          "A woman in a yellow raincoat walks a small dog down a wet street."),
    Scene("two workers in orange vests", "they", "carry a grid of solar panels across a flat roof",
          "kneel to bolt the last panel onto an aluminium rail", "on top of a warehouse",
          "A grid of solar panels already covers half of the roof, and a crane stands against a pale blue sky.",
          "Both wear white hard hats and gloves, and one has a coiled cable slung over his shoulder.",
          "A high wide shot looks down on them from a corner of the roof and slowly pushes in.",
          "clean, bright commercial footage with crisp shadows and saturated blues",
          "Two workers install solar panels on a roof."),
    Scene("an elderly man in a cardigan", "he", "straightens a picture frame on the wall of his living room",
          "steps back and smiles at the old wedding photo it holds", "in a cosy apartment",
          "A picture frame on the wall hangs beside a bookshelf, a floor lamp glows, and a clock ticks on the mantel.",
          "He has white hair, reading glasses pushed onto his forehead, and slippers on his feet.",
          "A static medium shot at eye level holds him in the center with a shallow depth of field.",
          "warm, intimate interior lighting with soft amber tones and gentle film grain",
          "An old man adjusts a picture frame on a wall."),
    Scene("a line of cars", "they", "waits at a red light on a busy avenue",
          "starts to roll forward, the first car in the queue leading the way", "in a downtown district",
          "Glass office towers rise behind the intersection, pedestrians cross at the far corner, and a bus pulls in.",
          "The first car in the queue is a silver sedan, followed by a taxi and a white delivery van.",
          "A fixed telephoto shot from across the street compresses the traffic into a dense stack.",
          "documentary street footage with flat midday light and a slightly desaturated palette",
          "Cars wait at a traffic light and then drive off."),
    Scene("a family slideshow", "it", "shows old photographs of a seaside holiday one after another",
          "fades from a photo of children on a beach to one of a picnic on the dunes",
          "set to a plain black background",
          "Each photo sits in a white border on black, and the pictures carry the faded colours of 1980s prints.",
          "The photos show two children, their parents and a striped windbreak, each image held for a few seconds.",
          "There is no camera movement: the slideshow uses slow zooms and cross-fades between the photos.",
          "nostalgic, warm and faded, with the grain and colour cast of old prints",
          "A slideshow of old family holiday photos."),
    Scene("a barista with a tattooed forearm", "he", "pours steamed milk into a cup to draw a leaf",
          "slides the cup across the counter to a waiting customer", "in a small café",
          "Shelves of coffee bags and a chalkboard menu fill the wall behind him, and sunlight comes through a window.",
          "He wears a black apron over a grey T-shirt, and a silver ring glints on his pouring hand.",
          "A close-up from just above the counter follows the jug, then tilts up to his face.",
          "polished lifestyle footage with warm highlights and a shallow, creamy depth of field",
          "A barista pours latte art into a cup."),
    Scene("a red fox", "it", "trots across a snowy meadow at the edge of a forest",
          "pauses, cocks its head and pounces into the snow", "in a northern forest",
          "Snow-laden spruce trees stand behind the meadow, and low sun throws long blue shadows across the snow.",
          "Its thick coat is russet with a white chest and black legs, and its bushy tail trails behind it.",
          "A long-lens shot pans smoothly to follow the fox, keeping it small against the white field.",
          "crisp wildlife cinematography with cold blue shadows and warm low sunlight",
          "A fox hunts in the snow."),
    Scene("a crowd of fans", "they", "fill the rows of seats of a stadium and wave scarves",
          "jump to their feet as the home team scores", "in a floodlit football stadium",
          "The stands rise in steep tiers under the floodlights, and a giant screen glows above the far end.",
          "Most wear blue and white, some have painted faces, and a drummer leads the chanting in the front row.",
          "A handheld shot from the stands sways with the crowd, then the camera frames a cheering child.",
          "energetic broadcast footage with hard floodlight contrast and vivid team colours",
          "Football fans cheer in a stadium."),
    Scene("a potter in a clay-stained apron", "she", "shapes a tall vase on a spinning wheel",
          "wets her hands and smooths the rim with a sponge", "in a sunlit workshop",
          "Shelves of drying bowls line the wall, and dust floats in the light from a large window.",
          "Her sleeves are rolled up, her forearms are grey with slip, and a pencil is tucked behind her ear.",
          "A slow dolly move circles the wheel at table height, then settles on a close view of her hands.",
          "tactile, artisanal footage with soft window light and earthy brown and grey tones",
          "A potter throws a vase on a wheel."),
    Scene("a cyclist in a black jersey", "he", "climbs a winding mountain road",
          "stands on the pedals around a hairpin bend", "in the Alps",
          "Rocky slopes and patches of snow rise above the road, and a valley of pine forest opens below.",
          "He rides a white road bike, wears a helmet and sunglasses, and a water bottle sits in the bike frame.",
          "A drone shot follows from behind and above, then swings out to reveal the road below.",
          "epic sports cinematography with clear alpine light, deep blues and long shadows",
          "A cyclist rides up a mountain road."),
    Scene("a chef in a white jacket", "she", "flips vegetables in a smoking wok",
          "plates the stir-fry and wipes the rim of the dish", "in a busy restaurant kitchen",
          "Steel counters, hanging pans and a row of gas burners fill the kitchen, and other cooks move behind her.",
          "Her hair is tucked under a black cap, and a towel hangs from the string of her apron.",
          "A handheld medium shot stays close to the stove, shot at 24 frames per second with quick focus pulls.",
          "gritty, high-energy kitchen footage with orange flame light and steel-grey tones",
          "A chef cooks with a wok in a kitchen."),
    Scene("a news presenter in a navy suit", "he", "reads the evening headlines at a glass desk",
          "turns to a second camera as a map appears on the wall behind him", "in a television studio",
          "A wall of screens shows a city skyline, and a channel logo sits in the top-left corner of the screen.",
          "He has short grey hair and a red tie, and he rests his hands on a stack of papers.",
          "A locked-off medium shot frames him at the center, with a slow push-in as he finishes.",
          "glossy broadcast look with even, high-key studio lighting and cool blue accents",
          "A news anchor presents the news in a studio."),
    Scene("a girl with braided hair", "she", "flies a diamond-shaped kite on a grassy hill",
          "runs a few steps to keep the kite aloft as the wind drops", "on a windy afternoon",
          "Rolling green hills stretch to the horizon under big white clouds, and a stone wall crosses the field.",
          "She wears a striped sweater and rain boots, and the kite string is wound on a wooden spool.",
          "A low-angle shot looks up at her against the sky, then tilts up to follow the kite.",
          "bright, airy footage with soft sunlight, fresh greens and a hint of film grain",
          "A girl flies a kite on a hill."),
    Scene("a tour guide with a red umbrella", "she", "leads a group through a hall of marble columns",
          "stops and points up at a painted ceiling", "in a museum",
          "Tall marble columns line the hall, gilded picture frames hang on the walls, and visitors drift past.",
          "She wears a lanyard and a grey blazer, and she holds the umbrella high so the group can follow.",
          "A smooth gimbal shot walks backwards ahead of the group, keeping the guide in the center.",
          "elegant, cool museum footage with soft diffused light and marble whites",
          "A guide leads tourists through a museum."),
    Scene("a fisherman in a green jacket", "he", "hauls a net onto the deck of a small boat",
          "sorts the catch into crates while gulls circle", "off a rocky coast",
          "Grey waves roll toward a rocky headland, a lighthouse stands on the point, and rain clouds gather.",
          "He has a weathered face and a knitted hat, and his orange gloves are wet with sea water.",
          "A handheld shot from the stern rocks with the boat, with spray hitting the lens now and then.",
          "raw documentary footage with stormy grey light and cold, desaturated colours",
          "A fisherman pulls in a net on a boat."),
)
COLORS = ("red", "blue", "green", "white", "black", "grey", "brown", "orange", "purple", "yellow", "pink", "tan")
THINGS = ("bicycle", "bench", "umbrella", "backpack", "van", "flag", "lantern", "bucket", "crate", "sign", "scooter",
          "parasol", "ladder")
SPOTS = ("near the left edge", "in the far distance", "just behind them", "to the right", "in the foreground",
         "beside a doorway", "at the corner", "against a wall")
PACES = ("slow and steady", "brisk", "unhurried", "calm", "lively", "gentle")
MOODS = ("peaceful", "busy", "hopeful", "quiet", "joyful", "tense", "relaxed")
LIGHTS = ("Soft morning", "Warm evening", "Flat midday", "Cool overcast", "Golden late-afternoon")


def _pick(i: int) -> tuple[Scene, str, str, str, str, str, str]:
    """Item i's scene and details, in mixed radix: distinct items get distinct combinations."""
    n = i
    out = []
    for pool in (SCENES, COLORS, THINGS, SPOTS, PACES, MOODS, LIGHTS):
        out.append(pool[n % len(pool)])
        n //= len(pool)
    return tuple(out)  # type: ignore[return-value]


def clean(i: int, short: bool = False) -> tuple[Captions, str]:
    """Item i's answer (with a short caption when `short`) and the hint it was written for."""
    s, color, thing, spot, pace, mood, light = _pick(i)
    cap = s.subject[0].upper() + s.subject[1:]
    they = s.they[0].upper() + s.they[1:]
    dense = (f"{cap} {s.action} {s.place}. {s.looks} As the clip goes on, {s.they} {s.later}, while a {color} "
             f"{thing} stays {spot}. {light} light falls across the scene and picks out the textures of every "
             f"surface. The movement is {pace} and continuous, the setting feels {mood}, and nothing interrupts "
             f"the action from start to end.")
    main = (f"The main subject is {s.subject}. {s.looks} {they} {s.action}, moving at a {pace} pace, and later "
            f"{s.later}. Throughout the video {s.they} stays clearly in view, and small gestures and shifts of "
            f"weight show how {s.they} reacts to what happens nearby.")
    background = (f"The setting is {s.place.removeprefix('in ').removeprefix('on ')}. {s.background} A {color} "
                  f"{thing} can be seen {spot}, and the surroundings stay the same for the whole clip. The time "
                  f"of day looks like {light.lower()}, and the weather is calm, with no rain or wind visible.")
    camera = (f"{s.camera} The framing stays steady and deliberate, with no abrupt cuts or jarring changes of "
              f"angle. The exposure holds even as the light shifts slightly, and the {pace} motion of the subject "
              f"is easy to follow from beginning to end.")
    style = (f"The video has a {s.style} look, with {mood} energy, careful composition and a natural colour "
             f"grade that suits the subject.")
    short_caption = f"{cap} {s.action} {s.place}." if short else None
    return Captions(dense_caption=dense, main_object_caption=main, background_caption=background,
                    camera_caption=camera, style_caption=style, short_caption=short_caption), s.hint


BOILERPLATE = ("The video shows a scene with people and objects in a setting. The camera captures the moment "
               "as things happen, and the lighting is natural. The overall mood is calm and the composition is "
               "balanced. Various details can be seen in the background, and the action continues steadily "
               "throughout the clip without any major changes or interruptions.")
FOREIGN = {
    "French": ("Une jeune femme marche lentement le long de la rue pendant que les voitures passent derrière "
               "elle, et la lumière du soir se reflète sur les vitrines des magasins."),
    "Spanish": ("Un hombre camina despacio por la playa con su perro mientras las olas llegan a la orilla y el "
                "sol se pone detrás de las montañas."),
    "German": ("Ein Mann geht langsam mit seinem Hund über den Strand, während die Wellen an das Ufer rollen und "
               "die Sonne hinter den Bergen untergeht."),
}
RULE_NAMES = ("medium", "narration", "refusal", "cut_off", "repetition", "length", "markup", "language",
              "restates_hint", "duplicate")
PARTS = ("dense_caption", "main_object_caption", "background_caption", "camera_caption", "style_caption")


def defective(answer: Captions, hint: str, rule: str, i: int) -> Captions:
    """`answer` with one defect that `rule` should catch, in a part and a form chosen by i."""
    field = PARTS[i % 4] if rule in ("medium", "narration", "cut_off", "markup", "repetition", "language") else (
        "dense_caption")
    text = getattr(answer, field)
    sentences = text.split(". ")
    k = (i // 4) % 3
    if rule == "medium":
        text = [f"Across the eight frames, {text[0].lower()}{text[1:]}",
                f"{text} The grid layout makes the sequence easy to follow.",
                f"In the top left, the scene begins. {text}"][k]
    elif rule == "narration":
        text = [f"In the first frame, {sentences[0][0].lower()}{sentences[0][1:]}. In the next frame, "
                + ". ".join(sentences[1:]),
                f"{sentences[0]}. In the second image the light changes, and by the final image "
                + ". ".join(sentences[1:]),
                f"{text} Frame by frame, the motion continues."][k]
    elif rule == "refusal":
        text = ["I'm sorry, but I can't help with describing the people in this video.",
                "I am unable to describe this video because the image is too dark to make out any details clearly.",
                "As an AI, I cannot identify the people shown here, but the scene appears to be outdoors."][k]
    elif rule == "cut_off":
        words = text.split()
        text = " ".join(words[: max(8, len(words) * 2 // 3)]).rstrip(".,;") + [" and the", " while", ""][k]
        text = text if not text.endswith(".") else text[:-1]
    elif rule == "repetition":
        first = sentences[0].rstrip(".")
        text = " ".join([f"{first}."] * 6)
    elif rule == "length":
        text = ["A person moves.", "People are outside.", "The scene is shown."][k]
    elif rule == "markup":
        text = [f"**{field.replace('_', ' ').title()}:** {text}", "- " + text.replace(". ", ".\n- ", 2),
                f"## Description\n{text}"][k]
    elif rule == "language":
        text = list(FOREIGN.values())[k]
    elif rule == "restates_hint":
        h = hint.rstrip(".")
        text = [f"The video shows {h[0].lower()}{h[1:]}.", f"{h}, as seen in this clip from start to end.",
                f"This clip depicts {h[0].lower()}{h[1:]}."][k]
    elif rule == "duplicate":
        text = BOILERPLATE
    else:
        raise ValueError(f"no defect for rule {rule!r}")
    return answer.model_copy(update={field: text})


@dataclass(frozen=True)
class Item:
    """One labelled answer: its parts, the hint it was asked with, and the rule it should trip (None: clean)."""

    index: int
    answer: Captions
    hint: str | None
    rule: str | None
    grid: str  # a grid id of its own


def labelled(n: int = 400) -> list[Item]:
    """n answers, half clean and half with one defect each (rules in turn); the first items of every scene
    are among the clean ones, so each tricky negative is in the set."""
    items = []
    for i in range(n):
        rule = None if i % 2 == 0 else RULE_NAMES[(i // 2) % len(RULE_NAMES)]
        short = i % 3 == 0 and rule != "restates_hint"
        answer, hint = clean(i, short)
        if rule is not None:
            answer = defective(answer, hint, rule, i // 2)
        items.append(Item(i, answer, None if short else hint, rule, f"grid-{i:05d}"))
    return items
