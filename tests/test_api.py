"""The JSON API beside the page, on the real page process: its schema, answers, errors and limits."""
import json
import sqlite3
import urllib.error
import urllib.request

import pytest

from bot import messages
from bot.gaps import FILE_NAME


def call(url: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_openapi_schema_describes_ask(page):
    _, url, _ = page
    status, schema = call(url + "/api/openapi.json")
    assert status == 200
    ask = schema["paths"]["/api/ask"]["post"]
    request = schema["components"]["schemas"]["AskRequest"]
    assert set(request["properties"]) == {"question", "history"} and request["required"] == ["question"]
    answer = schema["components"]["schemas"]["AnswerOut"]
    assert {"text", "citations", "caveats", "in_scope", "urgent", "red_flags", "cautions", "kind"} <= set(answer["properties"])
    citation = schema["components"]["schemas"]["CitationOut"]
    assert {"number", "text", "source", "url", "chunk_id", "score"} <= set(citation["properties"])
    assert "422" in ask["responses"] and "413" in ask["responses"]
    assert not any(p.startswith("/gradio_api") for p in schema["paths"])


def test_ask_returns_the_answer_as_json(page):
    _, url, _ = page
    status, a = call(url + "/api/ask", {"question": "Why do strong thighs help when lifting?"})
    assert status == 200
    assert a["kind"] == "answer" and a["in_scope"] and not a["urgent"] and a["red_flags"] == []
    assert a["citations"] and a["citations"][0]["number"] == 1 and "[1]" in a["text"]
    first = a["citations"][0]
    assert first["text"] in a["text"] or first["text"][:40] in a["text"] or first["chunk_id"].startswith("back-exercises")
    assert set(first) >= {"number", "text", "source", "url", "chunk_id", "score"}
    assert a["caveats"] == list([messages.ACUTE_CAVEAT, messages.GRADUAL_CAVEAT])


def test_ask_follows_up_on_the_history_it_is_given(page):
    _, url, _ = page
    first = "How can I prevent slouching at my desk?"
    _, a = call(url + "/api/ask", {"question": first})
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": a["text"]}]
    _, alone = call(url + "/api/ask", {"question": "And then what?"})
    status, followed = call(url + "/api/ask", {"question": "And then what?", "history": history})
    assert status == 200
    assert not alone["in_scope"] and followed["in_scope"] and followed["citations"]


def test_urgent_message_comes_back_urgent_with_its_red_flags(page):
    _, url, _ = page
    status, a = call(url + "/api/ask", {"question": "My back hurts and I suddenly can't control my bladder"})
    assert status == 200 and a["urgent"] and a["kind"] == "urgent"
    assert "loss of bladder or bowel control" in a["red_flags"] and a["citations"] == []


def test_a_caution_comes_back_beside_the_answer(page):
    _, url, _ = page
    status, a = call(url + "/api/ask", {"question": "my legs feel a bit tired today and my back aches, what exercises help?"})
    assert status == 200 and not a["urgent"] and a["cautions"] and a["citations"]
    assert a["text"].startswith("**Get medical help now if you also have:**")


def test_the_crisis_note_comes_back_with_its_flag(page):
    _, url, _ = page
    status, a = call(url + "/api/ask", {"question": "some days i wish i wasn't here anymore"})
    assert status == 200 and a["crisis"] and not a["urgent"]
    assert a["text"].startswith("**If you are thinking about suicide or harming yourself")
    _, calm = call(url + "/api/ask", {"question": "my back is killing me, what stretches help?"})
    assert calm["crisis"] is False


@pytest.mark.parametrize("body, field", [
    ({"question": 42}, "question"),
    ({"question": ["a"]}, "question"),
    ({}, "question"),
    ({"question": "hi", "history": "earlier"}, "history"),
    ({"question": "hi", "history": [{"role": "doctor", "content": "x"}]}, "history.0.role"),
    ({"question": "hi", "history": [{"role": "user", "content": 5}]}, "history.0.content"),
    ({"question": "hi", "colour": "red"}, "colour"),
])
def test_wrong_types_get_422_with_a_clear_message(page, body, field):
    _, url, _ = page
    status, out = call(url + "/api/ask", body)
    assert status == 422
    assert field in [e["field"] for e in out["errors"]]
    assert out["detail"].startswith("Invalid request:") and field in out["detail"]


def test_malformed_json_gets_422(page):
    _, url, _ = page
    status, out = call(url + "/api/ask", raw=b'{"question": ')
    assert status == 422 and "JSON" in out["detail"]


def test_health_reports_build_counts_and_watcher(page, settings):
    _, url, _ = page
    status, h = call(url + "/api/health")
    manifest = json.loads(next((settings.index_dir / "builds").glob(h["build"] + "/manifest.json")).read_text())
    assert status == 200 and h["watcher_alive"] is True
    assert (h["documents"], h["passages"]) == (manifest["counts"]["documents"], manifest["counts"]["chunks"])


def test_feedback_is_recorded_in_the_gap_log(page, settings):
    _, url, _ = page
    _, a = call(url + "/api/ask", {"question": "Will stretching help my back?"})
    ids = [c["chunk_id"] for c in a["citations"]]
    status, out = call(url + "/api/feedback", {"question": "Will stretching help my back?", "helpful": False, "chunk_ids": ids})
    assert status == 200 and out == {"recorded": True}
    with sqlite3.connect(settings.index_dir / FILE_NAME) as con:
        kind, chunk_ids = con.execute("SELECT kind, chunk_ids FROM events ORDER BY id DESC LIMIT 1").fetchone()
    assert kind == "disliked" and json.loads(chunk_ids) == ids
    assert call(url + "/api/feedback", {"question": "x", "helpful": "no"})[0] == 422


def test_uploads_are_off_and_internal_handlers_are_not_callable(page):
    from gradio_client import Client

    _, url, _ = page
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(url + "/gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    client = Client(url + "/", verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/chat"]
    assert "Sources" in client.predict("How can I prevent slouching?", api_name="/chat")
    for name in ("/respond", "/clear", "/like"):
        with pytest.raises(ValueError):
            client.predict("How can I prevent slouching?", api_name=name)
