#!/usr/bin/env python3
"""Writes the shipped demo task: short synthetic product reviews labelled
"positive" or "negative" (text-to-text: the target is the label word).

Deterministic (seeded); the generated train.jsonl / valid.jsonl are committed, so
the demo needs no Python. Validation reviews use the same opinion words in new
combinations with subjects and templates, so a prompt that only memorised rows
does not score well.
"""
import json
import random

POS = ["great", "excellent", "wonderful", "lovely", "superb", "fantastic", "perfect", "amazing",
       "delightful", "brilliant", "pleasant", "outstanding"]
NEG = ["terrible", "awful", "horrible", "broken", "useless", "disappointing", "poor", "dreadful",
       "noisy", "flimsy", "faulty", "boring"]
SUBJECTS = ["the kettle", "this phone", "the hotel room", "the pizza", "this book", "the service",
            "the headphones", "this chair", "the movie", "the coffee", "the battery", "this jacket",
            "the camera", "the lamp", "the game", "the soup"]
TEMPLATES = ["{s} was {a}.", "honestly, {s} is {a}.", "I found {s} {a}.", "{s}: {a}, really {a2}.",
             "my friend said {s} was {a}.", "overall {s} felt {a}.", "{s} turned out {a} and {a2}."]


def review(rng, label, subjects, templates):
    words = POS if label == "positive" else NEG
    a, a2 = rng.sample(words, 2)
    return rng.choice(templates).format(s=rng.choice(subjects), a=a, a2=a2)


def write(path, n, seed, subjects, templates):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            label = "positive" if i % 2 == 0 else "negative"
            f.write(json.dumps({"input": "review: " + review(rng, label, subjects, templates),
                                "target": label}) + "\n")


if __name__ == "__main__":
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    # train: 12 subjects, 5 templates; valid: all subjects and templates (some unseen)
    write(os.path.join(here, "sentiment", "train.jsonl"), 512, 1, SUBJECTS[:12], TEMPLATES[:5])
    write(os.path.join(here, "sentiment", "valid.jsonl"), 200, 2, SUBJECTS, TEMPLATES)
