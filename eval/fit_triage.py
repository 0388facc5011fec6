"""Fits the red-flag model on the project's own bank of labelled messages and reports it held out
family by family (never fitted on the shared sets):

    python eval/fit_triage.py           (part of make fit)
    python eval/fit_triage.py --whole   (the message read whole only, the shipped network kept)

The bank, bot/data/triage_bank.jsonl, holds messages written in families: one scenario phrased
many ways ("wet the bed", "hay fever in spring"), each labelled with the red flag it reports now or
"calm" (and the kind of calm: denied, a general question, past, family history, intended, a
look-alike, ordinary). A family is held out whole, so a phrasing is never scored by a model that saw
its siblings. Writes bot/data/models/triage.json: a small neural network over a message's parts (a
clause in its sentence: their vectors and the red flags' features, triage.part_inputs), a message
as alarming as its most alarming part, with two thresholds chosen on the held-out probabilities:
the caution tier for recall, the urgent tier for precision.
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from evaluate import library_index, load_rows  # noqa: E402
from fit import MODELS, write  # noqa: E402

BANK = HERE.parent / "bot" / "data" / "triage_bank.jsonl"
CALM = "calm"
# A small neural network: NETWORKS of UNITS rectified units each, fitted from different starting
# weights and averaged (their logits: one network of NETWORKS * UNITS units), L2 penalty ALPHA.
# Chosen held out family by family against logistic regression over the same inputs (emergencies
# reaching the urgent tier with 2% of calm messages over it: 64% for the regression, 71% here).
UNITS = 16
NETWORKS = 3
ALPHA = 1.0
# The caution tier: the highest threshold at which held-out emergencies still all reach a tier (at
# most this share may slip). The urgent tier: the lowest at which held-out calm messages get the
# urgent reply at most this often. Missing an emergency costs more than a note beside an answer.
CAUTION_MISSES = 0.02
URGENT_FALSE_ALARMS = 0.02
MIL_ROUNDS = 2  # re-choosing each emergency's most alarming part by the model so far
FOLDS = 10  # held out by family, in this many groups of families
GRID = tuple(round(0.02 * i, 2) for i in range(1, 50))  # 0.02 … 0.98
# The message read whole (triage.whole): a logistic regression fitted on the messages that may get
# the urgent reply (a part past the network's caution tier, a flag spoken of, not only supposed),
# from the part probabilities of networks that never saw their family. Its urgent threshold is the
# lowest at which held-out calm messages get the urgent reply at most WHOLE_FALSE_ALARMS of the
# time: 2.5%, chosen on the own material never fitted on (the triage
# sets eval/triage.jsonl and eval/sets/triage_*.jsonl, 844 emergencies and 772 calm messages, and the
# own libraries' 2,108 everyday questions and chat turns) as the largest budget at which calm and
# everyday messages get no more urgent replies than from the network alone; the model card
# (bot/data/models/README.md) has the numbers.
WHOLE_C = 1.0
WHOLE_FALSE_ALARMS = 0.025
WHOLE_GRID = tuple(round(0.01 * i, 2) for i in range(1, 100))


def emergencies(rows: list[dict]) -> np.ndarray:
    """Which of the bank's messages report a red flag now (the rest are calm)."""
    return np.array([r["label"] != CALM for r in rows])


def features(rows: list[dict]):
    """Every message's parts as the bot's triage reads them (its model pass and ConText): their rows
    [parts, flags, FEATURES] and model inputs [parts, features]; and which of them the bot reads."""
    from bot import BackCareBot

    bot = BackCareBot.load(settings=library_index("seed", None).but(gap_log=False))
    triage = bot.index.triage
    names = {f.name for f in triage.flags}
    unknown = {r["label"] for r in rows} - names - {CALM}
    if unknown:
        raise SystemExit(f"{BANK.name}: labels that are not red flags: {', '.join(sorted(unknown))}")
    # Mended towards the content's words as a question is before triage reads it.
    mended = [bot.index.vocabulary.mend(r["text"]) for r in rows]
    return triage, [triage.features(text) for text in mended], [triage.telling(text) for text in mended]


def fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]):
    """The network over the inputs standardised (the sentence vectors' numbers and the flag features
    alike)."""
    from sklearn.neural_network import MLPClassifier

    from bot.ranking import NeuralModel

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    nets = [MLPClassifier(hidden_layer_sizes=(UNITS,), alpha=ALPHA, max_iter=300, random_state=seed)
            .fit((x - mean) / scale, y) for seed in range(NETWORKS)]
    return NeuralModel(tuple(names), mean, scale, np.concatenate([n.coefs_[0] for n in nets], axis=1),
                       np.concatenate([n.intercepts_[0] for n in nets]),
                       np.concatenate([n.coefs_[1][:, 0] for n in nets]) / NETWORKS,
                       float(np.mean([n.intercepts_[1][0] for n in nets])))


def as_data(model) -> dict:
    return {"features": list(model.features), "mean": _rounded(model.mean), "scale": _rounded(model.scale),
            "hidden": [_rounded(row) for row in model.hidden], "hidden_bias": _rounded(model.hidden_bias),
            "weights": _rounded(model.weights), "bias": float(model.bias)}


def _rounded(values) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(values).tolist()]


def fit_parts(inputs: list[np.ndarray], urgent: np.ndarray, names, dimensions: int):
    """A message is labelled, not its parts: an emergency needs one alarming part, a calm message has
    none. Every part of a calm message is a negative; an emergency's positive is its most alarming
    part, first by closeness to a red flag's phrasings, then (MIL_ROUNDS times) by the model so far."""
    urgent_col = names.index("most_urgent") - dimensions

    def stack(chosen):
        x = [inputs[m][j] for m, j in chosen]
        return np.stack(x), np.array([int(urgent[m]) for m, _ in chosen])

    calm = [(m, j) for m in np.flatnonzero(~urgent) for j in range(len(inputs[m]))]
    best = {m: int(np.argmax(inputs[m][:, dimensions + urgent_col])) for m in np.flatnonzero(urgent)}
    model = fit(*stack(calm + list(best.items())), names)
    for _ in range(MIL_ROUNDS):
        best = {m: int(np.argmax(model.probability(inputs[m]))) for m in best}
        model = fit(*stack(calm + list(best.items())), names)
    return model


def held_out(rows: list[dict], inputs: list[np.ndarray], names, dimensions: int) -> list[np.ndarray]:
    """Each message's parts' probabilities of an emergency from the model fitted without its family
    (families in FOLDS groups)."""
    urgent = emergencies(rows)
    each = [np.zeros(0)] * len(rows)
    for train, test in folds(rows):
        model = fit_parts([inputs[m] for m in train], urgent[train], names, dimensions)
        for m in test:
            each[m] = model.probability(inputs[m]) if len(inputs[m]) else np.zeros(0)
    return each


def folds(rows: list[dict]):
    from sklearn.model_selection import GroupKFold

    urgent = emergencies(rows)
    return GroupKFold(n_splits=FOLDS).split(np.zeros(len(rows)), urgent, [r["family"] for r in rows])


def fit_whole(x: np.ndarray, y: np.ndarray) -> dict:
    """The message-level regression over triage.WHOLE_FEATURES, standardised."""
    from sklearn.linear_model import LogisticRegression

    from bot.triage import WHOLE_FEATURES

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    fitted = LogisticRegression(C=WHOLE_C, max_iter=5000).fit((x - mean) / scale, y)
    return {"features": list(WHOLE_FEATURES), "mean": _rounded(mean), "scale": _rounded(scale),
            "weights": _rounded(fitted.coef_[0]), "bias": float(fitted.intercept_[0])}


def whole_held_out(rows: list[dict], x: np.ndarray, may: np.ndarray) -> np.ndarray:
    """Each message's probability read whole, from the regression fitted without its family on the
    messages that `may` get the urgent reply (past the caution tier, not only supposed, a flag spoken
    of: 0 for the rest)."""
    from bot.ranking import LinearModel

    urgent = emergencies(rows)
    likely = np.zeros(len(rows))
    for train, test in folds(rows):
        train = train[may[train]]
        likely[test] = LinearModel.from_dict(fit_whole(x[train], urgent[train])).probability(x[test])
    return np.where(may, likely, 0.0)


def whole_threshold(rows: list[dict], likely: np.ndarray) -> float:
    """The lowest threshold at which held-out calm messages get the urgent reply at most
    WHOLE_FALSE_ALARMS of the time."""
    calm = ~emergencies(rows)
    return min((t for t in WHOLE_GRID if np.mean(likely[calm] >= t) <= WHOLE_FALSE_ALARMS), default=WHOLE_GRID[-1])


def thresholds(rows: list[dict], p: np.ndarray) -> tuple[float, float]:
    urgent = emergencies(rows)
    caution = max((t for t in GRID if np.mean(p[urgent] < t) <= CAUTION_MISSES), default=GRID[0])
    alarm = min((t for t in GRID if t >= caution and np.mean(p[~urgent] >= t) <= URGENT_FALSE_ALARMS),
                default=GRID[-1])
    return alarm, caution


def not_now_caution(rows: list[dict], p: np.ndarray, quiet: np.ndarray, alarm: float, caution: float) -> float:
    """The caution tier for a message whose red-flag words are all denied, past or supposed (`quiet`,
    `Triage.speaks_of_none_now`): the highest at which no held-out emergency so read that reached
    the caution tier loses it (at most the urgent tier)."""
    urgent = emergencies(rows)
    at_risk = p[urgent & quiet & (p >= caution)]
    if not len(at_risk):
        return caution  # no emergency so read to learn from: no second tier
    ceiling = min(float(at_risk.min()), alarm)
    return max((t for t in GRID if caution <= t <= ceiling), default=caution)


def report(rows: list[dict], p: np.ndarray, named: list[tuple[str, ...]], alarm: np.ndarray, caution: float,
           how: str) -> None:
    """alarm: whether each message gets the urgent reply held out."""
    print(f"red flags, held out family by family ({len({r['family'] for r in rows})} families, {len(rows)} messages; "
          f"urgent {how}, caution at {caution}):")
    print("| red flag | messages | urgent reply | either tier | flag named | lowest probability |")
    print("|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["label"] for r in rows if r["label"] != CALM):
        mine = [j for j, r in enumerate(rows) if r["label"] == name]
        v = p[mine]
        print(f"| {name} | {len(mine)} | {100 * np.mean(alarm[mine]):.0f}% | {100 * np.mean(v >= caution):.0f}% "
              f"| {100 * np.mean([name in named[j] for j in mine]):.0f}% | {v.min():.2f} |")
    urgent = emergencies(rows)
    print(f"flags named per emergency: {np.mean([len(named[j]) for j in np.flatnonzero(urgent)]):.2f}")
    calm = ~urgent
    print(f"calm messages: {int(calm.sum())}, the urgent reply to {100 * np.mean(alarm[calm]):.1f}%")
    print("| calm (kind) | messages | urgent reply | caution note |")
    print("|---|---|---|---|")
    kinds = defaultdict(list)
    for j, r in enumerate(rows):
        if r["label"] == CALM:
            kinds[r.get("kind", "")].append(j)
    for kind, mine in sorted(kinds.items()):
        print(f"| {kind} | {len(mine)} | {100 * np.mean(alarm[mine]):.0f}% "
              f"| {100 * np.mean((p[mine] >= caution) & ~alarm[mine]):.0f}% |")


def fit_triage(whole_only: bool = False) -> None:
    """Fits the network and the message read whole; with whole_only, the shipped network and its
    thresholds stay and only the message read whole is fitted again (on the same held-out parts)."""
    from bot import ranking
    from bot.triage import FEATURES, message_features, only_not_now

    rows = load_rows(BANK)
    triage, read, telling = features(rows)
    inputs = [x for _, x in read]
    dimensions = (inputs[0].shape[1] - len(FEATURES)) // 2
    names = message_features(dimensions)
    each = held_out(rows, inputs, names, 2 * dimensions)
    p = np.array([e.max() if len(e) else 0.0 for e in each])
    urgent = emergencies(rows)
    # Read on every part; the bot reads only those that say something, which reads the same: the
    # words it looks at are each sentence's, and every sentence is a part of its own (and a message
    # of several sentences one part whole).
    quiet = np.array([triage.speaks_of_none_now(flag_rows) for flag_rows, _ in read])
    if whole_only:
        model = ranking.model(str(MODELS / "triage.json"), names)
        if model is None:
            raise SystemExit("triage.json: no network fitted on these features to keep: run without --whole")
        data = json.loads((MODELS / "triage.json").read_text(encoding="utf-8"))
        caution, not_now = model.caution, model.caution_not_now
    else:
        network_alarm, caution = thresholds(rows, p)
        not_now = not_now_caution(rows, p, quiet, network_alarm, caution)
        model = fit_parts(inputs, urgent, names, 2 * dimensions)
        data = as_data(model)
        data.update(threshold=network_alarm, caution=caution, caution_not_now=not_now,
                    bank=dict(Counter("calm" if r["label"] == CALM else "urgent" for r in rows)))
    # The message read whole, on the parts the bot reads, once one of them reaches the caution tier
    # and it may get the urgent reply at all (not only supposed; a flag spoken of in its words).
    told = [(flag_rows[keep], e[keep]) for (flag_rows, _), e, keep in zip(read, each, telling)]
    may = np.array([bool(len(e)) and float(e.max()) >= caution and not only_not_now(r) and bool(triage.spoken_of(r))
                    for r, e in told])
    x = np.stack([triage.whole(r, e, caution) for r, e in told])
    likely = whole_held_out(rows, x, may)
    threshold = whole_threshold(rows, likely)
    alarm = likely >= threshold
    data["whole"] = {**fit_whole(x[may], urgent[may]), "threshold": threshold}
    named = [triage.named(flag_rows, int(np.argmax(model.probability(x)))) for flag_rows, x in read]
    report(rows, p, named, alarm, caution, f"read whole from {threshold}")
    noted = (p >= caution) & ~alarm
    spared = noted & quiet & (p < not_now)
    print(f"red-flag words all denied, past or supposed: {int(quiet.sum())} messages; a note from {not_now} "
          f"(held out: {int((spared & ~urgent).sum())} of {int((noted & ~urgent).sum())} calm notes spared, "
          f"{int((spared & urgent).sum())} emergencies lose their note)")
    write(MODELS / "triage.json", data)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--whole", action="store_true",
                        help="keep the shipped network; fit only the message read whole")
    fit_triage(parser.parse_args().whole)
