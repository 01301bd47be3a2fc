"""A review corpus written for the throughput benchmark (never copied from a data set).

Each row is an English customer review of an everyday thing (a hotel, a blender, a train
journey...) with a binary sentiment label. A review is one verdict clause, written by this
project, that carries the sentiment, plus 0..n neutral "story" clauses (when it happened, who
was there, what was bought) that carry none. The number of story clauses is drawn from a
geometric distribution, so most reviews are short (one or two clauses, 10-25 tokens) and a long
tail runs past 100 tokens, like real review data (a few are longer than 128 tokens and get
truncated by both the harness and the recipe). Two reviews in five end with a short sign-off
("Never again.", "Five stars."). About one review in eight is contrastive ("the
staff were rude, but overall the room was spotless"): its label follows the clause after "but
overall", so the task is learnable but not a keyword lookup.

`make_splits(seed)` is deterministic: the same seed gives the same rows on every machine.
"""
from __future__ import annotations

import random
from typing import Any

LABELS = ["negative", "positive"]

# --------------------------------------------------------------------------- verdicts
# (subject, positive predicates, negative predicates): written for this benchmark.
TOPICS: list[tuple[list[str], list[str], list[str]]] = [
    (
        ["the hotel room", "our room", "the suite we booked", "the guest house"],
        ["was spotless and quiet", "felt warm, bright and welcoming", "had the most comfortable bed I have slept in",
         "was worth every penny", "was even nicer than the photos"],
        ["smelled of damp and old smoke", "was filthy and freezing", "had a broken shower and noisy pipes",
         "was a complete rip-off", "looked nothing like the photos"],
    ),
    (
        ["the blender", "this kettle", "the new toaster", "the coffee machine", "this food processor"],
        ["works perfectly every single morning", "is sturdy, fast and easy to clean", "makes a great cup in seconds",
         "has been totally reliable", "does exactly what it promises"],
        ["stopped working after a week", "leaks all over the counter", "is flimsy and far too loud",
         "broke the second time I used it", "burns everything it touches"],
    ),
    (
        ["the train journey", "our flight", "the ferry crossing", "the bus ride", "the trip home"],
        ["left on time and was pleasantly smooth", "was relaxed and comfortable", "went without a single hitch",
         "was quick, clean and cheap", "was a genuine pleasure"],
        ["was delayed for hours with no explanation", "was cramped, dirty and miserable", "was cancelled at the last minute",
         "was chaotic from start to finish", "was an exhausting ordeal"],
    ),
    (
        ["the pizza", "the dinner", "the soup", "our lunch", "the dessert", "the set menu"],
        ["was delicious and generously portioned", "tasted fresh and full of flavour", "was the best meal of our holiday",
         "was cooked to perfection", "was lovely and arrived hot"],
        ["was cold, greasy and bland", "tasted stale and was overpriced", "made two of us feel sick",
         "was burnt on the bottom and raw in the middle", "was tiny and disappointing"],
    ),
    (
        ["the staff", "the waiters", "the support team", "the receptionists", "our tour guides", "the delivery drivers"],
        ["were friendly and genuinely helpful", "went out of their way to help us", "were patient, kind and quick",
         "made us feel very welcome", "solved the problem in minutes"],
        ["were rude and dismissive", "ignored us for half an hour", "were careless and unhelpful",
         "argued with us instead of listening", "never answered a single email"],
    ),
    (
        ["the novel", "this film", "the concert", "the play", "the new album", "the exhibition"],
        ["was gripping from the first page to the last", "was moving, funny and beautifully made", "was an absolute joy",
         "kept us smiling for days", "is one of the best I have come across in years"],
        ["was dull and painfully slow", "was a confusing, tedious mess", "was a waste of an evening",
         "bored everyone in our group", "is the worst I have come across in years"],
    ),
    (
        ["the jacket", "these running shoes", "the backpack", "this phone case", "the umbrella", "the wool jumper"],
        ["fits well and feels built to last", "is light, warm and well made", "has held up brilliantly",
         "looks great and was good value", "is exactly what I hoped for"],
        ["fell apart within a month", "is badly stitched and uncomfortable", "ripped the first time I wore it",
         "is cheap plastic and overpriced", "was nothing like the description"],
    ),
    (
        ["the app", "the website", "this laptop", "the printer", "the new router", "the smart speaker"],
        ["is fast, simple and a pleasure to use", "set up in minutes and never crashes", "has made my work so much easier",
         "runs smoothly and the battery lasts for ages", "is clear, quick and dependable"],
        ["crashes every time I open it", "is slow, buggy and confusing", "keeps losing the connection",
         "jams constantly and wastes ink", "froze and wiped all my settings"],
    ),
]

POSITIVE_OPENERS = ["Honestly,", "Happily,", "I have to say", "To be fair,", "In short,", "Overall,", ""]
NEGATIVE_OPENERS = ["Sadly,", "Unfortunately,", "I have to say", "Frankly,", "In short,", "Overall,", ""]
POSITIVE_CLOSERS = ["Highly recommended.", "We will be back.", "Five stars.", "Would buy again.", "Thank you!", ""]
NEGATIVE_CLOSERS = ["Avoid.", "Never again.", "One star.", "I want a refund.", "Very disappointed.", ""]

# --------------------------------------------------------------------------- neutral story
WHEN = ["last Tuesday", "in early March", "over the bank holiday weekend", "two weeks ago", "on my birthday",
        "during the school holidays", "late on a Friday night", "the morning after we arrived", "in the middle of winter",
        "a couple of months ago"]
WHO = ["my sister", "my partner and I", "the whole family", "a group of colleagues", "my elderly parents",
       "two friends from university", "my neighbour", "our two kids", "my brother and his dog", "a client from abroad"]
WHAT = ["ordered it online", "booked through a travel agent", "picked it up in the shop", "went there for the first time",
        "bought it as a gift", "used it for a small dinner party", "tried it after reading about it in the paper",
        "got it with a discount code", "took it along on a camping trip", "needed it for a long work project"]
DETAIL = ["the parcel came in a plain brown box", "we paid by card at the counter", "the weather was grey and mild",
          "there was a queue at the entrance", "the instructions were printed in four languages",
          "we parked two streets away", "the order number started with a seven", "it was the last one in stock",
          "the building is next to a small park", "we had to fill in a short form first",
          "the price was about the same as elsewhere", "there were roadworks on the main street"]
STORY_TEMPLATES = [
    "{when} {who} {what}",
    "{who} {what} {when}",
    "{detail}",
    "{when} {detail}",
    "as far as I remember {detail}",
    "{who} came along too and {detail}",
]


def _story(rng: random.Random) -> str:
    template = rng.choice(STORY_TEMPLATES)
    return template.format(when=rng.choice(WHEN), who=rng.choice(WHO), what=rng.choice(WHAT), detail=rng.choice(DETAIL))


def _verdict(rng: random.Random, label: int) -> str:
    subjects, good, bad = rng.choice(TOPICS)
    return f"{rng.choice(subjects)} {rng.choice(good if label else bad)}"


def make_review(rng: random.Random, label: int, stories: int, contrast: bool) -> str:
    """One review: an optional opener, `stories` neutral clauses around the verdict, a closer."""
    opener = rng.choice(POSITIVE_OPENERS if label else NEGATIVE_OPENERS)
    closer = rng.choice(POSITIVE_CLOSERS if label else NEGATIVE_CLOSERS) if rng.random() < 0.4 else ""
    verdict = _verdict(rng, label)
    if contrast:  # the first clause says the opposite; the label follows "but overall"
        verdict = f"{_verdict(rng, 1 - label)}, but overall {verdict}"
    before = [_story(rng) for _ in range(rng.randint(0, stories))]
    after = [_story(rng) for _ in range(stories - len(before))]
    parts = [*before, f"{opener} {verdict}".strip(), *after]
    text = ". ".join(p[0].upper() + p[1:] for p in parts) + "."
    return f"{text} {closer}".strip()


def make_rows(n: int, seed: int, contrast_rate: float = 0.125, mean_stories: float = 1.1) -> list[dict[str, Any]]:
    """`n` balanced rows {"sentence", "label"}; story clauses ~ geometric with mean `mean_stories`."""
    rng = random.Random(seed)
    p = 1.0 / (1.0 + mean_stories)  # geometric on {0, 1, 2, ...} with this mean
    rows = []
    for i in range(n):
        label = i % 2
        stories = 0
        while rng.random() > p and stories < 14:
            stories += 1
        rows.append({"sentence": make_review(rng, label, stories, rng.random() < contrast_rate), "label": label})
    rng.shuffle(rows)
    return rows


def make_splits(train: int = 960, validation: int = 256, test: int = 1024, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Train / validation / test rows with disjoint generator seeds."""
    return {
        "train": make_rows(train, seed * 3 + 1),
        "validation": make_rows(validation, seed * 3 + 2),
        "test": make_rows(test, seed * 3 + 3),
    }


if __name__ == "__main__":  # a look at the corpus: python benchmarks/corpus.py
    rows = make_rows(12, 5)
    for row in rows:
        print(LABELS[row["label"]], "|", row["sentence"])
