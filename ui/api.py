"""The JSON API for programs, beside the page on the same server: POST /api/ask, POST /api/feedback
and GET /api/health, with an OpenAPI schema at /api/openapi.json."""
from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from bot import BackCareBot
from bot.errors import BackCareError

from .serving import BODY_LIMIT, RateLimit, client_address


# One answer at a time: on two cores, answers computed side by side only contend for them (20
# concurrent callers get about 0.6x the answers per second of one caller). An answer takes a few
# milliseconds, so /api/ask computes it on the server's one event loop, which also keeps API answers
# from overlapping, without a hop to a worker thread and back for each request (measured: 0.62-0.78x
# the in-process rate with the hop, 0.85-1.14x without).


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: StrictStr


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr = Field(description="The visitor's message; over 1,000 characters it is cut there.")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first, for follow-ups.")


class CitationOut(BaseModel):
    number: int
    text: str = Field(description="The cited passage, verbatim.")
    source: str = Field(description="Its document's title.")
    url: str = Field(description="Its document's address, when the content names one.")
    chunk_id: str
    score: float
    paragraph: int


class AnswerOut(BaseModel):
    text: str = Field(description="The whole reply as markdown, with [n] markers, safety notes and sources.")
    citations: list[CitationOut]
    caveats: list[str]
    in_scope: bool
    urgent: bool
    red_flags: list[str]
    cautions: list[str] = Field(default_factory=list,
                                description="Red flags the message comes near: the reply starts with a note naming them.")
    crisis: bool = Field(default=False, description="The message speaks of suicide or self-harm: the reply "
                                                    "starts with a note to get help now.")
    kind: Literal["answer", "urgent", "refusal", "small_talk", "empty", "language"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    helpful: StrictBool
    chunk_ids: list[StrictStr] = Field(default_factory=list, description="The rated answer's citations' chunk ids.")


class FeedbackOut(BaseModel):
    recorded: bool


class Health(BaseModel):
    build: str
    documents: int
    passages: int
    watcher_alive: bool
    watcher_last_check: float
    watcher_last_error: str
    watcher_errors: int


def _where(error: dict) -> str:
    return ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"


def _too_many(wait: float) -> JSONResponse:
    return JSONResponse(status_code=429, headers={"Retry-After": str(max(1, round(wait + 0.5)))},
                        content={"detail": f"Too many requests from your address: try again in {wait:.0f} s."})


def add_api(app: FastAPI, bot: BackCareBot, watcher) -> None:
    """Adds the API routes, per-client rate limits (429 with Retry-After; ServingSettings) and a
    clear 422 for malformed requests to our FastAPI app."""
    serving = bot.settings.serving
    asks, ratings = RateLimit(serving.ask_per_minute), RateLimit(serving.feedback_per_minute)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_where(e)}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={
            "detail": "Invalid request: " + "; ".join(problems[:5]) + ". Expected JSON like "
                      '{"question": "How can I prevent slouching?", "history": [{"role": "user", "content": "..."}]}',
            "errors": [{"field": _where(e), "message": e.get("msg", "")} for e in exc.errors()[:20]],
        })

    @app.post("/api/ask", response_model=AnswerOut, tags=["answers"],
              responses={413: {"description": f"Body over {BODY_LIMIT} bytes"}, 422: {"description": "Wrong types"},
                         429: {"description": "Too many requests from one address (see Retry-After)"}})
    async def ask(request: AskRequest, http: Request) -> dict:
        """Answers a question (with the conversation so far, for follow-ups) from the content."""
        wait = asks.wait(client_address(http.scope))
        if wait:
            return _too_many(wait)
        history = [t.model_dump() for t in request.history]
        try:
            answer = bot.ask(request.question, history=history)
            return asdict(answer)  # AnswerOut, the response model, keeps the fields listed there
        except BackCareError as e:  # a history the bot cannot follow
            return JSONResponse(status_code=422, content={"detail": str(e)})

    @app.post("/api/feedback", response_model=FeedbackOut, tags=["answers"],
              responses={422: {"description": "Wrong types, or chunk ids the live build does not have"},
                         429: {"description": "Too many ratings from one address (see Retry-After)"}})
    def feedback(request: FeedbackRequest, http: Request) -> dict:
        """A like or dislike of an answer, kept in the gap log for the content's owners."""
        wait = ratings.wait(client_address(http.scope))
        if wait:
            return _too_many(wait)
        try:
            return {"recorded": bot.feedback(request.question, request.helpful, request.chunk_ids)}
        except BackCareError as e:  # chunk ids the live build does not have
            return JSONResponse(status_code=422, content={"detail": str(e)})

    @app.get("/api/health", response_model=Health, tags=["service"],
             responses={503: {"description": "The index watcher has stopped"}})
    def health() -> JSONResponse:
        """The live build, its document and passage counts, and whether the index watcher is alive."""
        state = {**watcher.health(), **bot.index_counts()}
        return JSONResponse(state, status_code=200 if state["watcher_alive"] else 503)
