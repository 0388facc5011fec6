"""What a chat message is for, from its meaning: a question, or small talk (greeting, thanks, bye,
help, "are you a person?", a filler such as "ok" or "lol"). A logistic regression over the message's
sentence vector (the one the question's model pass already made), fitted by `make fit` (eval/fit.py) on
the example phrasings in bot/data/intents.tsv; its weights are bot/data/models/intents.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .ranking import MODELS

QUESTION = "question"
# A request no page meets (a brand to buy, a price, a booking): read as a question, then declined
# unless the content answers it surely (scope.judge).
REQUEST = "service"
# A question about an animal's health or care ("my dog is limping"): read as a question, then
# declined unless the content answers it surely (a vet's pages would).
ANIMAL = "animal"
# What asks the content something: a question, and the kinds of question declined unless answered surely.
DECLINED = (REQUEST, ANIMAL)
ASKS = (QUESTION, *DECLINED)


@dataclass(frozen=True)
class IntentModel:
    labels: tuple[str, ...]
    weights: np.ndarray  # labels × dimensions
    bias: np.ndarray
    min_probability: float  # small talk only this sure (all its kinds together); else a question

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        logits = self.weights @ vector + self.bias
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def intent(self, vector: np.ndarray) -> str:
        """A question, the kind of small talk, or the declined kind (service, animal) the message is (`decide`)."""
        return decide(self.labels, self.probabilities(vector), self.min_probability)


def decide(labels: tuple[str, ...] | list[str], p: np.ndarray, min_probability: float) -> str:
    """A question unless what is not a question is likely enough. Then what asks (a question, a
    request, a question about an animal) together against small talk of every kind together: the
    likeliest kind of the side that weighs more ("ok thank you!!" is thanks even where a request is
    its likeliest single kind, as thanks and a filler together outweigh it)."""
    q = labels.index(QUESTION)
    if 1.0 - p[q] < min_probability:
        return QUESTION
    asks = [i for i, label in enumerate(labels) if label in ASKS]
    small = [i for i in range(len(labels)) if i not in asks]
    side = asks if float(sum(p[i] for i in asks)) >= float(sum(p[i] for i in small)) else small
    return labels[max(side, key=lambda i: p[i])]


@lru_cache(maxsize=4)
def load(name: str, dimensions: int, replies: frozenset) -> IntentModel | None:
    """The model, when it is there, readable, made for vectors of this length, and every small-talk
    label it knows has a reply (`replies`); otherwise None (said once in the log): every message is
    then read as a question."""
    from .embedding import say_once

    path = Path(name) if Path(name).is_absolute() else MODELS / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = IntentModel(tuple(data["labels"]), np.array(data["weights"], dtype=np.float32),
                            np.array(data["bias"], dtype=np.float32), float(data["min_probability"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        say_once(f"the small-talk model {path.name} is unreadable ({e}): run `make fit`")
        return None
    if model.weights.shape != (len(model.labels), dimensions) or QUESTION not in model.labels:
        say_once(f"the small-talk model {path.name} was fitted for another model's vectors: run `make fit`")
        return None
    unknown = set(model.labels) - {QUESTION} - set(replies)
    if unknown:
        say_once(f"the small-talk model {path.name} has labels with no reply ({', '.join(sorted(unknown))}): "
                 "add them to messages.FIXED_REPLIES")
        return None
    return model


def examples(path: Path) -> list[tuple[str, str]]:
    """(label, message) pairs of the examples file."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, text = line.partition("\t")
            if text.strip():
                out.append((label.strip(), text.strip()))
    return out
