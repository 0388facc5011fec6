"""Scores the bot on every library it has, through its public API:
    python eval/evaluate.py [--shared DIR] [--only NAME] [--misses]

Each library is the seed page plus the library's documents (as an owner grows the content), built
into eval/.builds/NAME/; the table has one row per question set and ends with the worst library.

Each line is one question: kind "answer" or "followup" (a passage containing one of expect_any must
be cited; a follow-up is asked after its history_questions), "out_of_scope" (the bot must decline)
"urgent" (red-flag symptoms) or "not_urgent" (a symptom only mentioned). The printed summary uses the same fields as the shared scorer.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The project's own set was written for the one seed page, and the ranking and scope weights were once
# tuned on it; they are now learned across the project's libraries (eval/fit.py), which costs this
# set a few rows (hit@1 84%, hit@3 92% when measured) while the other libraries gain. These floors
# hold where it stands, so a regression still turns CI red; `make eval` reports held-out numbers.
# Red flags: every emergency reaches a tier (the urgent reply or a caution); the urgent tier is the
# red-flag model's, held out from this set (92% when measured).
TARGETS = {"hit1": 80.0, "hit3": 90.0, "followup": 90.0, "oos": 85.0, "urgent": 90.0, "flagged": 100.0,
           "caveats": 95.0}


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(bot, rows: list[dict]) -> dict:
    """Percentages per measure, the false-alarm count, p50 latency and the ids that missed."""
    stats = {k: [0, 0] for k in ("hit1", "hit3", "quoted", "followup", "oos", "refused", "urgent", "flagged", "calm",
                                  "cautioned", "caveats", "smalltalk", "turns", "whole")}
    false_alarms, misses, latency = [], [], []

    def check(name, ok, rid):
        stats[name][0] += bool(ok)
        stats[name][1] += 1
        if not ok:
            misses.append(f"{name}:{rid}")

    for row in rows:
        if "turns" in row:  # a conversation: every turn asked with the conversation so far
            whole = _conversation(bot, row, check, false_alarms, latency)
            check("whole", whole, row["id"])
            continue
        history = []
        for hq in row.get("history_questions", []):
            ha = bot.ask(hq, history=list(history))
            history += [{"role": "user", "content": hq}, {"role": "assistant", "content": ha.text}]
        t = time.perf_counter()
        a = bot.ask(row["question"], history=history)
        latency.append(time.perf_counter() - t)
        kind, rid = row["kind"], row["id"]
        if kind in ("answer", "followup"):
            expected = [norm(p) for p in row["expect_any"]]
            texts = [norm(c.text) for c in a.citations]
            hit1 = bool(texts) and any(p in texts[0] for p in expected)
            hit3 = any(p in t for t in texts[:3] for p in expected)
            if kind == "answer":
                check("hit1", hit1 and a.in_scope, rid)
                check("hit3", hit3 and a.in_scope, rid)
                check("quoted", a.in_scope and any(p in norm(a.body) for p in expected), rid)
                stats["refused"][0] += not a.in_scope  # counted, not a target: lower is better
                stats["refused"][1] += 1
            else:
                check("followup", hit3 and a.in_scope, rid)
            caveats = norm(" ".join(a.caveats))
            check("caveats", "acute" in caveats and ("gradual" in caveats or "progress" in caveats)
                  and all(norm(c) in norm(a.text) for c in a.caveats), rid)
            if a.urgent:
                false_alarms.append(rid)
        elif kind == "out_of_scope":
            check("oos", not a.in_scope and not a.citations and not a.urgent, rid)
        elif kind == "urgent":
            check("urgent", a.urgent, rid)
            check("flagged", a.urgent or bool(a.cautions), rid)  # the urgent reply or a caution note
        elif kind == "not_urgent":  # a symptom only mentioned: denied, hypothetical, someone else's, past
            check("calm", not a.urgent, rid)
            stats["cautioned"][0] += bool(a.cautions)  # counted, not a target: lower is better
            stats["cautioned"][1] += 1
    latency.sort()
    result = {k: (100.0 * v[0] / v[1] if v[1] else None) for k, v in stats.items()}
    result.update(false_alarms=len(false_alarms), misses=misses + [f"urgent_fp:{r}" for r in false_alarms],
                  p50_ms=1000 * latency[len(latency) // 2] if latency else 0.0, questions=len(rows))
    return result


def _conversation(bot, row: dict, check, false_alarms: list, latency: list) -> bool:
    history, whole = [], True
    for i, turn in enumerate(row["turns"]):
        t = time.perf_counter()
        a = bot.ask(turn["user"], history=list(history))
        latency.append(time.perf_counter() - t)
        expect, tid = turn["expect"], f"{row['id']}.{i + 1}"
        if expect == "answer":
            expected = [norm(p) for p in turn["expect_any"]]
            ok = a.in_scope and not a.urgent and any(p in norm(c.text) for c in a.citations[:3] for p in expected)
        elif expect == "refuse":
            ok = not a.in_scope and not a.citations and not a.urgent
        elif expect == "urgent":
            ok = a.urgent
        else:
            ok = not a.urgent and not a.citations and a.kind != "refusal"
            check("smalltalk", ok, tid)
        if expect != "urgent" and a.urgent:
            false_alarms.append(tid)
        check("turns", ok, tid)
        whole = whole and ok
        history += [{"role": "user", "content": turn["user"]}, {"role": "assistant", "content": a.text}]
    return whole


# The fixture library's questions (asked of the seed page grown with tests/fixtures/library) are kept
# untuned: these floors record where it stands with the learned answerability model, which refuses 3
# of its 11 answerable questions (their closest passages sit barely above what off-topic questions
# reach in so small a library), so a regression still turns CI red.
LIBRARY_TARGETS = {"hit1": 50.0, "hit3": 60.0, "followup": 100.0, "oos": 100.0, "urgent": 100.0, "caveats": 75.0}


def meets_targets(result: dict, targets: dict = TARGETS) -> bool:
    return all(result[k] is None or result[k] >= v for k, v in targets.items()) and result["false_alarms"] == 0


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0f}%"


def summary(result: dict) -> str:
    return (f"hit@1 {_pct(result['hit1'])} hit@3 {_pct(result['hit3'])} quoted {_pct(result['quoted'])} "
            f"followup {_pct(result['followup'])} oos {_pct(result['oos'])} refused {_pct(result['refused'])} "
            f"urgent {_pct(result['urgent'])} flagged {_pct(result['flagged'])} calm {_pct(result['calm'])} "
            f"cautioned {_pct(result['cautioned'])} urgent_fp {result['false_alarms']} "
            f"smalltalk {_pct(result['smalltalk'])} whole {_pct(result['whole'])} "
            f"caveats {_pct(result['caveats'])} p50 {result['p50_ms']:.1f}ms ({result['questions']} rows)")


# Every library the bench covers: its documents (beside the seed page in corpus/, as an owner grows
# the content) and its question sets. "own" libraries were written for this project and may be fitted
# on (held out one at a time); "shared" ones come from --shared DIR and are only ever scored.
LIBRARIES = [
    {"name": "seed", "origin": "own", "docs": None,
     # triage_holdout.jsonl: emergencies and near misses written blind after the model was built, never fitted on;
     # triage_minimised.jsonl: the same, played down or buried ("probably nothing but…", "also is yoga ok?");
     # triage_fresh.jsonl: the same again, later still (slang, numbers, someone with the writer now);
     # triage_wide.jsonl: four writers more (the nerve flags in euphemism and slang, the other flags,
     # calm near misses, long messages with the flag buried in them)
     "sets": ["questions.jsonl", "sets/seed_more.jsonl", "sets/seed_conversations.jsonl", "triage.jsonl",
              "sets/triage_holdout.jsonl", "sets/triage_minimised.jsonl", "sets/triage_fresh.jsonl",
              "sets/triage_wide.jsonl"]},
    {"name": "fixtures", "origin": "own", "docs": "../tests/fixtures/library", "sets": ["library_questions.jsonl"]},
    # The libraries written for the project, each laid out the same way (eval/libraries/NAME/ and
    # eval/sets/NAME.jsonl, NAME_conversations.jsonl; NAME_fit.jsonl, 30 near misses the pages do not
    # answer and 15 questions they do, and NAME_fit_conversations.jsonl, 12 chats whose follow-ups lean on
    # what was said and that the pages answer or not, both written to fit on by someone who saw only the
    # pages). "blind" sets are scored, never fitted on:
    # NAME_more.jsonl holds 25 more answerable questions and 25 near misses the pages do not answer,
    # written after the models were fitted by someone who had not seen the bot. NAME_nearmiss.jsonl
    # holds 30 questions that sound like the library's topics but that its pages do not answer (a
    # treatment, dose, cost or condition they never name) and 20 they do, written the same way.
    # NAME_switches.jsonl: 12 conversations that move between the library's pages and come back
    # ("different thing, …", "back to my ankle, …"), with near misses and small talk between.
    *({"name": name, "origin": "own", "docs": f"libraries/{name}",
       "sets": [f"sets/{name}.jsonl", f"sets/{name}_conversations.jsonl", f"sets/{name}_fit.jsonl",
                f"sets/{name}_fit_conversations.jsonl"],
       "blind": [f"sets/{name}_more.jsonl", f"sets/{name}_nearmiss.jsonl", f"sets/{name}_switches.jsonl"]}
      for name in ("clinic", "family", "textbook", "hospital", "pharmacy", "blog")),
    {"name": "shared-seed", "origin": "shared", "docs": None,
     "sets": ["eval/dev.jsonl", "eval/conversations_dev.jsonl", "eval/triage_dev.jsonl", "eval/triage_big.jsonl"]},
    {"name": "shared-nih", "origin": "shared", "docs": "library",
     "sets": ["eval/library_dev.jsonl", "eval/conversations_library_dev.jsonl"]},
    {"name": "shared-nhs", "origin": "shared", "docs": "library_nhs", "sets": ["eval/nhs_dev.jsonl"]},
]
COLUMNS = ("hit1", "hit3", "quoted", "followup", "oos", "refused", "smalltalk", "whole", "urgent", "flagged", "calm",
           "cautioned")
BUILDS = HERE / ".builds"  # one index per library, kept between runs (a no-op rebuild when nothing changed)


def library_index(name: str, docs: Path | None):
    """Settings for the seed page plus a library's documents, built incrementally in eval/.builds/."""
    import shutil
    from dataclasses import replace

    from bot.build import build_index
    from bot.settings import Settings

    root = BUILDS / name
    corpus = root / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    shutil.copytree(HERE.parent / "corpus", corpus)
    if docs is not None:
        shutil.copytree(docs, corpus / docs.name)
    s = replace(Settings(), corpus_dir=corpus, index_dir=root / "index")
    build_index(s, progress=False, log=lambda *_: None)
    return s


def bench(shared: Path | None, only: set[str]) -> list[dict]:
    """Scores every library's sets; one row per set, with the library's origin."""
    from bot import BackCareBot

    rows = []
    for lib in LIBRARIES:
        if only and lib["name"] not in only:
            continue
        base = HERE if lib["origin"] == "own" else shared
        if base is None or not base.is_dir():
            continue
        docs = (base / lib["docs"]).resolve() if lib["docs"] else None
        sets = [base / p for p in lib["sets"] + lib.get("blind", []) if (base / p).is_file()]
        if not sets or (docs is not None and not docs.is_dir()):
            continue
        s = library_index(lib["name"], docs).but(gap_log=False)
        held_out = held_out_models(lib["name"], s) if lib["origin"] == "own" else {}
        # An own library scored on a model that saw it (no fold was fitted without it) is marked.
        name = lib["name"] + ("" if lib["origin"] != "own" or len(held_out) == len(FITTED) else " (not held out)")
        bot = BackCareBot.load(settings=s.but(**held_out))
        for path in sets:
            result = evaluate(bot, load_rows(path))
            rows.append({"library": name, "origin": lib["origin"], "set": path.name, **result})
    return rows


FOLDS = BUILDS / "folds"  # models fitted without one own library each (eval/fit.py)
FITTED = ("ranker", "answerability")  # the fitted models a library is scored held out on: their Settings names


def held_out_models(name: str, settings) -> dict:
    """Settings that load the models fitted without this library, where eval/fit.py made them for the
    features the code reads now (a fold left from an older fit would be set aside at answering time,
    and the library scored without that model): an own library is scored on models that never saw it.
    settings: the library's build, whose vectors' size the answerability model reads."""
    from bot import ranking, store

    dimensions = int(store.read_manifest(store.current_build(settings.index_dir))["dimensions"])
    features = {"ranker": ranking.PASSAGE_FEATURES, "answerability": ranking.answerability_features(dimensions)}
    paths = {m: str(FOLDS / name / f"{m}.json") for m in FITTED}
    return {m: path for m, path in paths.items() if ranking.model(path, features[m]) is not None}


def table(rows: list[dict]) -> str:
    head = "| library | set | " + " | ".join(COLUMNS) + " | urgent_fp |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for r in rows:
        lines.append(f"| {r['library']} | {r['set']} | " + " | ".join(_pct(r[c]) for c in COLUMNS)
                     + f" | {r['false_alarms']} |")
    return "\n".join(lines)


def worst(rows: list[dict]) -> str:
    """The question set with the lowest hit@3 (ties: the most wrongly refused), and its library."""
    scored = [r for r in rows if r["hit3"] is not None]
    if not scored:
        return ""
    w = min(scored, key=lambda r: (r["hit3"], -(r["refused"] or 0)))
    return f"worst library: {w['library']} ({w['set']}): hit@3 {_pct(w['hit3'])}, oos {_pct(w['oos'])}"


def main(argv: list[str]) -> int:
    import argparse

    sys.path.insert(0, str(HERE.parent))
    parser = argparse.ArgumentParser(description="Scores the bot on every library and question set.")
    parser.add_argument("--shared", type=Path, default=None, help="a folder with more libraries and sets to score")
    parser.add_argument("--only", action="append", default=[], help="only this library (repeatable)")
    parser.add_argument("--misses", action="store_true", help="list the ids that missed")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = bench(args.shared.resolve() if args.shared else None, set(args.only))
    if args.misses:
        for r in rows:
            if r["misses"]:
                print(f"{r['library']}/{r['set']} misses: {' '.join(r['misses'])}")
    print(table(rows))
    print(worst(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


def library_bot(library: Path):
    """A bot over the seed page grown with a library folder, built into a temporary index."""
    import shutil
    import tempfile

    from bot import BackCareBot
    from bot.build import build_index
    from bot.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="library-eval-"))
    shutil.copytree(HERE.parent / "corpus", tmp / "corpus")
    shutil.copytree(library, tmp / "corpus" / library.name)
    s = Settings(corpus_dir=tmp / "corpus", index_dir=tmp / "index").but(gap_log=False)
    build_index(s, progress=False, log=lambda *_: None)
    return BackCareBot.load(settings=s)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
