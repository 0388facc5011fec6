"""Back-care chatbot: answers from trusted content with quoted, cited sentences and safety caveats.

    from bot import BackCareBot
    bot = BackCareBot.load()
    answer = bot.ask("How can I prevent slouching?")

Names are imported on first use, so `python build_index.py` with nothing to do stays fast.
"""
from importlib import import_module

_EXPORTS = {
    "BackCareBot": "chatbot", "Answer": "answer", "Citation": "answer", "Settings": "settings",
    "BackCareError": "errors", "BuildError": "errors", "BuildLockedError": "errors", "CorpusError": "errors",
    "IndexCorruptError": "errors", "IndexMissingError": "errors", "IndexStaleError": "errors",
    "InvalidHistoryError": "errors", "InvalidQuestionError": "errors",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
