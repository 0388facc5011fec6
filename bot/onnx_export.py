"""The configured sentence-transformers model → an ONNX export for answering without torch.

Made once per model at build time, in a cache beside the builds (index/models/<key>/, the key from
the model's identity: its name and a hash of its weights), written to a temporary folder and renamed into place. Before use it is
checked: on a sample of the corpus its vectors must match sentence-transformers' (cosine ≥
Settings.serving.onnx_min_cosine), or the export is refused and answering falls back to sentence-transformers.
Exported with torch's own ONNX exporter: it runs offline on the weights already here, while the
libraries that wrap it fetch models or need torch at serving time.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

MODELS = "models"


def export_key(identity: dict) -> str:
    """The model's identity (name and weights): other weights get another export; the same weights
    in another folder or on another machine use this one."""
    from .embedding import model_key

    return hashlib.sha256(model_key(identity).encode("utf-8")).hexdigest()[:16]


def export_folder(index_dir: Path, identity: dict) -> Path:
    return Path(index_dir) / MODELS / export_key(identity)


def verified_export(index_dir: Path, identity: dict) -> Path | None:
    """The export's folder when one was made and verified for this model, else None."""
    folder = export_folder(index_dir, identity)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    from .embedding import same_model

    if not same_model(meta.get("identity"), identity) or not (folder / "model.onnx").is_file():
        return None
    return folder


def ensure_export(index_dir: Path, model_name: str, identity: dict, sample: list[str], settings, log) -> Path | None:
    """Exports and verifies the model unless a verified export exists; None (and a log line) if refused.
    settings: ServingSettings (the cosine the export must reach, threads)."""
    found = verified_export(index_dir, identity)
    if found is not None:
        return found
    try:
        import onnxruntime  # noqa: F401 - without it there is nothing to export for
    except ImportError:
        log("warning: onnxruntime is not installed; questions will be answered with sentence-transformers")
        return None
    from .embedding import OnnxEmbedder, shared_embedder

    min_cosine = settings.onnx_min_cosine
    final = export_folder(index_dir, identity)
    tmp = final.parent / f".tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        reference = shared_embedder(model_name, settings)
        _export(reference.model, tmp, model_name)
        exported = OnnxEmbedder(tmp, settings.torch_threads, settings.batch_size, settings.query_cache_size,
                                settings.onnx_run_tokens)
        cosine = float(np.min(np.sum(exported.encode(sample) * reference.encode(sample), axis=1))) if sample else 1.0
        if cosine < min_cosine:
            log(f"warning: ONNX export refused: its vectors differ from sentence-transformers' (cosine {cosine:.6f} "
                f"< {min_cosine}); questions will be answered with sentence-transformers")
            return None
        meta = json.loads((tmp / "meta.json").read_text(encoding="utf-8"))
        meta.update(identity=identity, verified_cosine=round(cosine, 6), verified_on=len(sample))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export(model, folder: Path, model_name: str) -> None:
    import torch

    transformer = model[0]
    hf = transformer.auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = model.tokenizer(["an example sentence", "another, longer example sentence to export with"],
                             padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "token_type_ids": {0: "batch", 1: "tokens"}, "last_hidden_state": {0: "batch", 1: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(LastHiddenState(hf), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                          str(folder / "model.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    model.tokenizer.save_pretrained(str(folder / "tokenizer"))
    shutil.copy(folder / "tokenizer" / "tokenizer.json", folder / "tokenizer.json")
    shutil.rmtree(folder / "tokenizer")
    pooling = [m for m in model if type(m).__name__ == "Pooling"]
    if pooling and not getattr(pooling[0], "pooling_mode_mean_tokens", True):
        raise ValueError("only mean pooling is exported")
    meta = {
        "model": model_name,
        "dimensions": int((getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()),
        "max_seq_length": int(model.max_seq_length),
        "pad_id": int(model.tokenizer.pad_token_id or 0),
        "pad_token": model.tokenizer.pad_token or "[PAD]",
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
