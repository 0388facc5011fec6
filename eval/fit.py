"""Fits the bot's learned decisions on the project's own libraries and question sets (never on the
shared ones), and reports each one held out library by library:

    python eval/fit.py            (make fit)

- the re-ranker (which candidate passage answers a question): bot/data/models/ranker.json;
- answerability (whether the content answers a question at all): bot/data/models/answerability.json,
  on features read with each library's held-out re-ranker;
- the intents (a question, or small talk of which kind) from bot/data/intents.tsv:
  bot/data/models/intents.json, checked by cross-validation over the examples;
- the red flags (urgent, a caution, or neither) from bot/data/triage_bank.jsonl:
  bot/data/models/triage.json, held out family by family (eval/fit_triage.py);

For every own library X it also fits the same model without X into eval/.builds/folds/X/, which
`make eval` uses to score X: the numbers it prints for own libraries are held-out numbers.
The model card is bot/data/models/README.md.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from evaluate import LIBRARIES, library_index, load_rows, norm  # noqa: E402

MODELS = HERE.parent / "bot" / "data" / "models"
FOLDS = HERE / ".builds" / "folds"


def own_libraries() -> list[dict]:
    return [lib for lib in LIBRARIES if lib["origin"] == "own"]


def chat_rows(lib: dict) -> list[tuple[str, list[str], str, list[str]]]:
    """(message, earlier user turns, what it expects, expected fragments) for every row and turn of
    a library's sets; rows say answer (answer, followup) or refuse (out_of_scope) as turns do."""
    out = []
    for rel in lib["sets"]:
        for row in load_rows(HERE / rel):
            if "turns" in row:
                earlier = []
                for turn in row["turns"]:
                    out.append((turn["user"], list(earlier), turn["expect"], turn.get("expect_any", [])))
                    earlier.append(turn["user"])
            else:
                expect = {"answer": "answer", "followup": "answer", "out_of_scope": "refuse"}.get(row.get("kind"), "")
                out.append((row["question"], row.get("history_questions", []), expect, row.get("expect_any", [])))
    return out


def questions(lib: dict) -> list[tuple[str, list[str], list[str]]]:
    """(question, earlier user turns, expected fragments) for every answerable row and turn."""
    return [(q, earlier, fragments) for q, earlier, expect, fragments in chat_rows(lib) if expect == "answer"]


def asked(lib: dict, items: list[tuple], **changes):
    """Each (question, earlier user turns, label) read by the library's index as in a chat: yields
    (question, label, message, index) for those that ask the content something. The earlier turns
    are answered as a chat would have answered them (`Replies`), so the chat's latest answer is there."""
    from bot import BackCareBot
    from bot.understanding import understand

    docs = (HERE / lib["docs"]).resolve() if lib["docs"] else None
    settings = library_index(lib["name"], docs).but(gap_log=False, **changes)
    index = BackCareBot.load(settings=settings).index
    replies = Replies(BackCareBot.load(settings=settings.but(ranker="", answerability="")))
    for question, earlier, label in items:
        message = understand(question, replies.history(earlier), index)
        if not message.reply and not message.red_flags:
            yield question, label, message, index


class Replies:
    """The earlier turns of a chat with the replies a bot gave them, each asked once. The bot answers
    in the fused order with the build's calibrated thresholds, so what the fitted models learn from
    the replies does not depend on the models they replace."""

    def __init__(self, bot):
        self.bot, self.said = bot, {}

    def history(self, earlier: list[str]) -> list[dict]:
        turns: list[dict] = []
        for k, question in enumerate(earlier):
            key = tuple(earlier[:k + 1])
            if key not in self.said:
                self.said[key] = self.bot.ask(question, history=list(turns)).text
            turns += [{"role": "user", "content": question}, {"role": "assistant", "content": self.said[key]}]
        return turns


def ranker_rows(lib: dict) -> list[dict]:
    """Each answerable question's candidates: features and whether each holds an expected fragment."""
    from bot import matching, ranking, retrieval

    rows = []
    for question, expected, message, index in asked(lib, questions(lib)):
        query = retrieval.query_for(message, index)
        hits = index.passages.candidates(query)
        wanted = [norm(p) for p in expected]
        labels = [any(p in norm(h.chunk.text) for p in wanted) for h in hits]
        if not any(labels):
            continue  # the answer is not among the candidates: nothing to learn about their order
        # The pieces read here whether or not a ranker is loaded (a refit may find none that fits).
        pieces = index.embedder.query_pieces(message.asking) if message.asking else None
        features = ranking.passage_features(query.own_terms(), ranking.asks_amount(query.text), hits, query.earlier,
                                            matching.each(pieces, index.passages.pieces_of(hits), len(hits)))
        rows.append({"library": lib["name"], "question": question, "x": features.tolist(), "y": labels})
    return rows


def known_mean(x: np.ndarray) -> np.ndarray:
    """Each column's mean over the rows that have it (not NaN: something to match); 0 for a column
    no row has (builds that kept no word pieces)."""
    known = ~np.isnan(x)
    return np.where(known, x, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)


def fit_linear(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float = 1.0, balanced: bool = False) -> dict:
    from sklearn.linear_model import LogisticRegression

    x = np.where(np.isnan(x), known_mean(x), x)  # nothing to match: the mean, as answering reads it
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None)
    lr.fit((x - mean) / scale, y)
    return {"features": list(names), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": lr.coef_[0].tolist(), "bias": float(lr.intercept_[0])}


def ranking_scores(model: dict | None, groups: list[dict]) -> tuple[float, float]:
    """hit@1 and hit@3 over question groups, in the model's order (the fused order with None)."""
    from bot.ranking import LinearModel

    lm = None
    if model is not None:
        lm = LinearModel.from_dict(model)
    h1 = h3 = 0
    for g in groups:
        x, y = np.array(g["x"], dtype=np.float64), g["y"]
        order = list(range(len(y))) if lm is None else sorted(range(len(y)), key=lambda i: (-lm.logits(x[i:i + 1])[0], i))
        h1 += y[order[0]]
        h3 += any(y[i] for i in order[:3])
    n = max(1, len(groups))
    return 100.0 * h1 / n, 100.0 * h3 / n


RANKER_C = 0.1  # chosen on the own libraries held out one at a time (0.01, 0.1, 1)
RANKER_NEGATIVES = 15  # wrong candidates paired with each right one, best first


def fit_pairwise(groups: list[dict], names: tuple[str, ...]) -> dict:
    """A linear ranker fitted on pairs (a right candidate against a wrong one of the same question):
    logistic regression on their feature differences, so it learns the order within a question."""
    from sklearn.linear_model import LogisticRegression

    x_all = np.vstack([np.array(g["x"], dtype=np.float64) for g in groups])
    mean = known_mean(x_all)
    scale = np.sqrt(known_mean((x_all - mean) ** 2))  # over the rows that have it, as the mean
    scale[~(scale > 0)] = 1.0
    diffs, labels = [], []
    for g in groups:
        x = np.array(g["x"], dtype=np.float64)
        x, y = (np.where(np.isnan(x), mean, x) - mean) / scale, g["y"]  # nothing to match: the mean, as answering reads it
        right = [i for i, ok in enumerate(y) if ok]
        wrong = [i for i, ok in enumerate(y) if not ok][:RANKER_NEGATIVES]
        for p in right:
            for q in wrong:
                diffs += [x[p] - x[q], x[q] - x[p]]
                labels += [1, 0]
    lr = LogisticRegression(C=RANKER_C, max_iter=3000, fit_intercept=False).fit(np.array(diffs), np.array(labels))
    return {"features": list(names), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": lr.coef_[0].tolist(), "bias": 0.0}


def fit_ranker(rows: list[dict]) -> None:
    from bot.ranking import PASSAGE_FEATURES

    print("re-ranker, held out library by library (questions whose answer is among the candidates):")
    print("| held out | questions | fused hit@1 | fused hit@3 | ranker hit@1 | ranker hit@3 |")
    print("|---|---|---|---|---|---|")
    names = sorted({r["library"] for r in rows})
    for name in names:
        train = [r for r in rows if r["library"] != name]
        test = [r for r in rows if r["library"] == name]
        model = fit_pairwise(train, PASSAGE_FEATURES)
        write(FOLDS / name / "ranker.json", model)
        f1, f3 = ranking_scores(None, test)
        r1, r3 = ranking_scores(model, test)
        print(f"| {name} | {len(test)} | {f1:.0f}% | {f3:.0f}% | {r1:.0f}% | {r3:.0f}% |")
    model = fit_pairwise(rows, PASSAGE_FEATURES)
    write(MODELS / "ranker.json", model)
    print("weights (standardised):", ", ".join(f"{n} {w:+.2f}" for n, w in zip(model["features"], model["weights"])))


def labelled_questions(lib: dict) -> list[tuple[str, list[str], bool]]:
    """(question, earlier user turns, whether the content answers it) for every row and turn that says."""
    return [(q, earlier, expect == "answer") for q, earlier, expect, _ in chat_rows(lib) if expect in ("answer", "refuse")]


def answerability_rows(lib: dict) -> list[dict]:
    """Each labelled question's features, read with the re-ranker fitted without this library."""
    from bot import retrieval, scope

    rows = []
    ranker = str(FOLDS / lib["name"] / "ranker.json")
    for question, answerable, message, index in asked(lib, labelled_questions(lib), ranker=ranker):
        hits = index.search(retrieval.query_for(message, index))
        words, near = scope.evidence(message, hits, index)
        calibrated = scope.decide(near, words, index.calibration, index.settings.scope.shared_words).in_scope
        rows.append({"library": lib["name"], "question": question, "y": answerable, "calibrated": calibrated,
                     "x": scope.answerability_row(message, hits, index, words, near,
                                                  scope.unsaid_things(message, hits, index))[0].tolist()})
    return rows


def fit_answerability(rows: list[dict]) -> None:
    from bot.ranking import QUESTION_FEATURES, answerability_features

    names = answerability_features(len(rows[0]["x"]) - len(QUESTION_FEATURES))
    # Each library's questions scored by the model fitted without it; the threshold is then chosen on
    # those held-out probabilities, and the table shows each library at that threshold.
    held_out = {}
    for name in sorted({r["library"] for r in rows}):
        train = [r for r in rows if r["library"] != name]
        test = [r for r in rows if r["library"] == name]
        model = fit_linear(np.array([r["x"] for r in train]), np.array([r["y"] for r in train], dtype=int),
                           names, c=ANSWERABLE_C)
        held_out[name] = (model, test, probabilities(model, np.array([r["x"] for r in test])))

    def scored(without: str = "") -> list:
        return [(r, p[i]) for name, (_, test, p) in held_out.items() if name != without for i, r in enumerate(test)]

    threshold = answerable_threshold(scored())
    print(f"answerability, held out library by library (calibrated thresholds → learned model, threshold {threshold};"
          " each library's own chosen without it):")
    print("| held out | answerable | unanswerable | wrongly refused | off-topic declined |")
    print("|---|---|---|---|---|")
    for name, (model, test, p) in held_out.items():
        model["threshold"] = answerable_threshold(scored(without=name))  # the library never sets its own
        write(FOLDS / name / "answerability.json", model)
        pos = [r for r in test if r["y"]]
        neg = [r for r in test if not r["y"]]
        refused_before = sum(not r["calibrated"] for r in pos)
        declined = [p[i] < model["threshold"] for i in range(len(test))]
        refused_after = sum(declined[i] for i, r in enumerate(test) if r["y"])
        declined_before = sum(not r["calibrated"] for r in neg)
        declined_after = sum(declined[i] for i, r in enumerate(test) if not r["y"])
        print(f"| {name} | {len(pos)} | {len(neg)} | {pct(refused_before, pos)} → {pct(refused_after, pos)} "
              f"| {pct(declined_before, neg)} → {pct(declined_after, neg)} |")
    model = fit_linear(np.array([r["x"] for r in rows]), np.array([r["y"] for r in rows], dtype=int),
                       names, c=ANSWERABLE_C)
    model["threshold"] = threshold
    write(MODELS / "answerability.json", model)
    named = len(QUESTION_FEATURES)
    print("weights (standardised):", ", ".join(f"{n} {w:+.2f}" for n, w in zip(model["features"], model["weights"][:named])),
          f"; the vector of what is asked: {len(names) - named} weights, their norm "
          f"{float(np.linalg.norm(model['weights'][named:])):.2f}")


def answerable_threshold(scored: list[tuple[dict, float]]) -> float:
    """The highest threshold (declining the most off-topic questions) at which the held-out
    answerable questions wrongly refused stay within MAX_WRONGLY_REFUSED."""
    answerable = [(r, p) for r, p in scored if r["y"]]
    best = THRESHOLDS[0]
    for t in THRESHOLDS:
        refused = sum(p < t for _, p in answerable) / max(1, len(answerable))
        if refused <= MAX_WRONGLY_REFUSED:
            best = t
    return best


# Chosen on the own libraries held out one at a time (C 0.1 or 1, balanced classes or not, gradient
# boosted trees, with and without the margins over the build's calibrated thresholds as features):
# strong regularisation, classes as they come, the margins kept (without them a small library's low
# cosines read as off-topic). Trees held out no better than the linear model. Refusing an answerable
# question costs the reader more than quoting an off-topic one's nearest passage with its citations,
# so the threshold is the highest that wrongly refuses at most 3% of held-out answerable questions.
THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(11))  # 0.2 … 0.7
MAX_WRONGLY_REFUSED = 0.03
# With the vector of what is asked (its frame) beside the named features (384 more inputs), C 0.01:
# held out library by library, AUC 0.952 against 0.950 at C 0.003 or 0.03 and 0.944 at C 0.1.
ANSWERABLE_C = 0.01


def pct(count: int, rows: list) -> str:
    return f"{100.0 * count / max(1, len(rows)):.0f}%"


def probabilities(model: dict, x: np.ndarray) -> np.ndarray:
    from bot.ranking import LinearModel

    return LinearModel.from_dict(model).probability(x)  # nothing to match (NaN) weighs as its mean there


def write(path: Path, data: dict) -> None:
    from bot import intents, ranking

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    intents.load.cache_clear()  # what is read next uses the model just written
    ranking.model.cache_clear()


INTENT_C = 10.0  # sentence vectors are unit length: weak regularisation
INTENT_MIN_PROBABILITY = 0.5  # below this, a message the model calls small talk is still read as a question


def punctuation_swapped(text: str) -> str:
    """The message with its end punctuation taken off, or a question mark added when it has none."""
    bare = text.rstrip("?!. ")
    return bare if bare != text else text + "?"


def fit_intents() -> None:
    """Multinomial logistic regression over the examples' sentence vectors (the serving model's)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    from bot import BackCareBot, intents

    lib = own_libraries()[0]
    settings = library_index(lib["name"], None).but(gap_log=False)
    embedder = BackCareBot.load(settings=settings).index.embedder
    # Each example also with its end punctuation swapped ("what can you do" / "what can you do?"):
    # people type either, and the vectors of the two differ more than their meaning does.
    examples = intents.examples(HERE.parent / "bot" / "data" / "intents.tsv")
    pairs, groups, originals = [], [], []
    for label, text in examples:
        for variant in dict.fromkeys((text, punctuation_swapped(text))):
            pairs.append((label, variant))
            # Both spellings of one example, and an example written twice, fall in the same fold.
            groups.append(" ".join(punctuation_swapped(text).rstrip("?").lower().split()))
            originals.append(variant == text)
    labels = sorted({label for label, _ in pairs})
    x = embedder.encode([text for _, text in pairs])
    y = np.array([labels.index(label) for label, _ in pairs])
    right = 0
    confused = []
    declined = {kind: [0, 0, 0] for kind in intents.DECLINED}  # its examples, found, questions taken for it
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(x, y, groups):
        lr = LogisticRegression(C=INTENT_C, max_iter=5000).fit(x[train], y[train])
        p = lr.predict_proba(x[test])
        for i, row in zip(test, p):
            label = intents.decide(labels, row, INTENT_MIN_PROBABILITY)
            for kind, counts in declined.items():  # counted once per example, as written
                counts[0] += originals[i] and labels[y[i]] == kind
                counts[1] += originals[i] and labels[y[i]] == kind and label == kind
                counts[2] += originals[i] and labels[y[i]] == intents.QUESTION and label == kind
            small = label not in intents.ASKS
            truth_small = labels[y[i]] not in intents.ASKS
            right += small == truth_small
            if small != truth_small:
                confused.append(f"{labels[y[i]]}→{label}: {pairs[i][1]}")
    print(f"intents: small talk vs question right in {right}/{len(y)} held-out examples (5-fold)")
    for line in confused[:12]:
        print("   ", line)
    questions = sum(1 for (label, _), original in zip(pairs, originals) if original and label == intents.QUESTION)
    for kind, (total, found, taken) in declined.items():
        print(f"intents: {kind} found in {found}/{total} held-out examples; questions read as {kind}: {taken}/{questions}")
    lr = LogisticRegression(C=INTENT_C, max_iter=5000).fit(x, y)
    write(MODELS / "intents.json", {"labels": labels, "weights": lr.coef_.round(6).tolist(),
                                    "bias": lr.intercept_.round(6).tolist(),
                                    "min_probability": INTENT_MIN_PROBABILITY})


def main() -> int:
    from fit_triage import fit_triage

    fit_intents()
    fit_triage()  # first: the rows below are read through the bot, red flags and all
    rows = []
    for lib in own_libraries():
        rows += ranker_rows(lib)
    write(HERE / ".builds" / "ranker_rows.json", {"rows": rows})
    fit_ranker(rows)
    rows = []
    for lib in own_libraries():
        rows += answerability_rows(lib)
    write(HERE / ".builds" / "answerability_rows.json", {"rows": rows})
    fit_answerability(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
