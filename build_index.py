"""Rebuilds the index from corpus/: python build_index.py [--corpus DIR] [--index DIR] [--force] [--watch]"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bot.build import build_index
from bot.errors import BackCareError
from bot.settings import Settings


def main(argv=None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description="Build or update the back-care index from the corpus folder.")
    parser.add_argument("--corpus", type=Path, default=defaults.corpus_dir, help="folder of .md, .txt, .html, .pdf and .docx documents")
    parser.add_argument("--index", type=Path, default=defaults.index_dir, help="folder the index is written to")
    parser.add_argument("--force", action="store_true", help="re-embed everything, ignoring the cache")
    parser.add_argument("--model", default=None, help="sentence-transformers model path or name")
    parser.add_argument("--watch", action="store_true", help="keep running and rebuild when corpus files change")
    args = parser.parse_args(argv)
    settings = replace(defaults, corpus_dir=args.corpus, index_dir=args.index, model=args.model)
    code = build_once(settings, args.force)
    if not args.watch:
        return code
    return watch(settings)


def build_once(settings, force: bool = False) -> int:
    try:
        report = build_index(settings, force=force)
    except BackCareError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    except (OSError, UnicodeError) as e:  # reading the corpus or the old index: name it, never a traceback
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    print(report.summary(), flush=True)
    return 0


def watch(settings) -> int:
    """Rebuilds after each burst of edits under the corpus folder (watchfiles debounces the burst);
    builds run one at a time in this process, and the build lock keeps other processes out."""
    from watchfiles import watch as watch_changes

    print(f"Watching {settings.corpus_dir} for changes (Ctrl-C stops).", flush=True)
    try:
        for _changes in watch_changes(settings.corpus_dir, debounce=settings.build.watch_debounce_ms, step=100):
            build_once(settings)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
