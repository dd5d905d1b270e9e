"""Word lists the quality rules read: what a grid looks like in words, what a physical object named like
one looks like, and the function words of the languages the language rule tells apart."""

from __future__ import annotations

ORDINALS = frozenset(
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "last", "final", "initial", "next", "following", "previous", "subsequent", "opening", "closing", "penultimate", "1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th"])
COUNTS = frozenset(["two", "three", "four", "five", "six", "seven", "eight", "few", "couple", "several", "2", "3", "4", "5", "6", "7", "8"])
# What a frame-by-frame narration steps through.
UNITS = frozenset(["frame", "frames", "image", "images", "shot", "shots", "picture", "pictures", "panel", "panels", "still", "stills"])
SHOW_VERBS = frozenset(["show", "shows", "showing", "depict", "depicts", "depicting", "display", "displays", "reveal", "reveals", "capture", "captures", "illustrate", "illustrates", "present", "presents", "feature", "features"])
# Words that pick one or several cells of a grid ("each panel", "the top row", "all eight images").
PICKERS = frozenset(["each", "every", "this", "these", "those", "both", "all", "eight", "8", "four", "4", "two", "2", "adjacent", "individual", "separate", "remaining", "other", "multiple", "several", "consecutive", "successive", "different", "top", "bottom", "upper", "lower", "left", "right", "leftmost", "rightmost", "middle", "center", "centre"]) | ORDINALS
DETERMINERS = frozenset(["the", "a", "an", "her", "his", "their", "its", "him", "them", "this", "that", "these", "those", "our", "your", "one"])
GRID_WORDS = frozenset(["grid", "frames", "frame", "images", "image", "pictures", "picture", "panels", "panel", "stills", "still", "collage", "cells", "cell", "rows", "columns", "layout", "shots", "snapshots", "sequence", "video", "clip", "footage"])
# A physical thing named like a part of the grid: "picture frame", "solar panels", "power grid".
PHYSICAL = frozenset(
    ["picture", "photo", "door", "window", "bed", "bike", "bicycle", "wooden", "wood", "metal", "steel", "timber", "glasses", "eyeglass", "spectacle", "climbing", "wire", "mirror", "gilded", "ornate", "gold", "golden", "silver", "empty", "aluminum", "aluminium", "car", "truck", "tent", "house", "building", "structural", "walker", "loom", "canvas", "art", "poster", "painting", "photograph", "solar", "wall", "glass", "control", "instrument", "side", "body", "ceiling", "floor", "acoustic", "fence", "concrete", "stone", "stained", "plastic", "sliding", "roof", "lcd", "led", "touch", "electrical", "electric", "switch", "dashboard", "power", "street", "city", "road", "iron", "chain", "marble", "greek", "roman", "ionic", "doric", "corinthian", "brick", "front", "back", "rear", "dome", "skylight", "cabinet", "van"])
PHYSICAL_AFTER = frozenset(["pattern", "patterns", "lines", "paper", "van", "discussion", "truck", "board", "door", "doors", "rate", "rates", "per"])
# A video that is itself made of pictures: its captions talk about images for good reason.
PICTURE_CONTENT = ("slideshow", "slide show", "slides", "photographs", "photos", "photo album", "projector",
                   "projected", "gallery", "exhibition", "museum", "postcard", "comic", "storyboard",
                   "screen", "monitor", "magazine")

FUNCTION_WORDS = {
    "en": frozenset(["the", "a", "an", "and", "of", "to", "in", "on", "at", "with", "is", "are", "was", "were", "as", "by", "for", "from", "it", "its", "his", "her", "their", "this", "that", "these", "while", "into", "over", "through", "then", "there", "which", "who", "he", "she", "they", "be", "has", "have", "but", "or", "not"]),
    "fr": frozenset(["le", "la", "les", "un", "une", "des", "et", "de", "du", "au", "aux", "est", "sont", "dans", "sur", "avec", "pour", "par", "qui", "que", "une", "il", "elle", "ils", "se", "son", "sa", "ses", "leur", "pendant", "tandis"]),
    "es": frozenset(["el", "la", "los", "las", "un", "una", "unos", "y", "de", "del", "en", "con", "por", "para", "que", "es", "son", "se", "su", "sus", "al", "mientras", "hacia", "sobre"]),
    "de": frozenset(["der", "die", "das", "ein", "eine", "einen", "und", "ist", "sind", "mit", "von", "zu", "im", "auf", "für", "sich", "dem", "den", "des", "wird", "während", "über", "nach"]),
    "it": frozenset(["il", "lo", "la", "gli", "le", "un", "una", "e", "di", "del", "della", "in", "con", "per", "che", "è", "sono", "si", "suo", "sua", "dei", "mentre", "verso", "sul"]),
    "pt": frozenset(["o", "a", "os", "as", "um", "uma", "e", "de", "do", "da", "em", "no", "na", "com", "por", "para", "que", "é", "são", "se", "seu", "sua", "dos", "das", "enquanto"]),
}
LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "de": "German", "it": "Italian",
                  "pt": "Portuguese"}
# Words that never end a finished sentence.
DANGLING = frozenset(["the", "a", "an", "and", "or", "of", "to", "with", "in", "on", "at", "for", "from", "by", "its", "his", "her", "their", "as", "while", "but", "into", "onto", "toward", "towards"])
ABBREVIATIONS = ("e.g.", "i.e.", "dr.", "mr.", "mrs.", "ms.", "st.", "vs.")
# Words any caption of any video uses: they add nothing to what a hint said.
GENERIC = frozenset(["video", "clip", "footage", "scene", "shows", "show", "showing", "depicts", "depicting", "features", "featuring", "captures", "capturing", "sequence", "seen", "view", "viewer", "appears"])
