"""A tiny, randomly initialised CLIP exported to ONNX in the hub's layout, for tests: nothing downloaded.

:func:`build_tiny_clip` builds transformers' ``CLIPModel`` from a small ``CLIPConfig`` (PyTorch CPU),
exports its vision and text towers with their projections to ``onnx/vision_model.onnx`` and
``onnx/text_model.onnx`` — the names and outputs (``image_embeds``, ``text_embeds``) of the real
``Xenova/clip-vit-base-patch32`` export — and writes a word-level ``tokenizer.json`` (with CLIP's
start/end tokens), ``preprocessor_config.json`` and ``livesight_clip.json``. The local CLIP judge then
loads and scores it exactly as it would the real weights. ``quantized=True`` also writes the int8
``*_quantized.onnx`` files with ONNX Runtime's dynamic quantiser.

Needs ``torch``, ``transformers`` and ``onnx`` (the test extra); the judge itself needs none of them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

__all__ = ["TINY_VOCABULARY", "build_tiny_clip", "tiny_clip_missing"]

TINY_VOCABULARY = (
    "a an the of with no is are there photo video frame showing where it not true that empty scene nothing in "
    "particular red green blue yellow square person door gate open closed car dog cat smoke fire at on "
    "someone something . , ? !"
).split()
_IMAGE_SIZE = 32


def tiny_clip_missing() -> str | None:
    """The first package needed to build the tiny model that is not installed, or ``None``."""
    import importlib.util

    for module in ("torch", "transformers", "onnx", "onnxruntime", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


def _write_tokenizer(path: Path) -> tuple[int, int, int]:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    vocab = {word: i for i, word in enumerate(["<unk>", *TINY_VOCABULARY])}
    bos, eos = len(vocab), len(vocab) + 1  # end-of-text has the highest id, as in CLIP's vocabulary
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = bos, eos
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    tokenizer.save(str(path))
    return len(vocab), bos, eos


def build_tiny_clip(directory: Path, *, seed: int = 0, quantized: bool = False) -> Path:
    """Write a tiny random CLIP's ONNX files into ``directory`` (created) and return it."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "onnx").mkdir(exist_ok=True)
    vocab_size, bos, eos = _write_tokenizer(directory / "tokenizer.json")
    text = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 77,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": eos,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": _IMAGE_SIZE,
        "patch_size": 8,
    }
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.train(False)

    class _Vision(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower, self.projection = model.vision_model, model.visual_projection

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            embeds: torch.Tensor = self.projection(self.tower(pixel_values=pixel_values).pooler_output)
            return embeds

    class _Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower, self.projection = model.text_model, model.text_projection

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            embeds: torch.Tensor = self.projection(self.tower(input_ids=input_ids).pooler_output)
            return embeds

    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated and chatty, but exports this model in a second (the
        # dynamo exporter takes ~15 s); the warnings are about the exporter, not about the model.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Vision(),
            (torch.zeros(1, 3, _IMAGE_SIZE, _IMAGE_SIZE),),
            str(directory / "onnx" / "vision_model.onnx"),
            input_names=["pixel_values"],
            output_names=["image_embeds"],
            dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
            dynamo=False,
        )
        torch.onnx.export(
            _Text(),
            (torch.tensor([[bos, 1, 2, eos]]),),
            str(directory / "onnx" / "text_model.onnx"),
            input_names=["input_ids"],
            output_names=["text_embeds"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "text_embeds": {0: "batch"}},
            dynamo=False,
        )
    if quantized:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for tower in ("vision_model", "text_model"):
                quantize_dynamic(
                    directory / "onnx" / f"{tower}.onnx",
                    directory / "onnx" / f"{tower}_quantized.onnx",
                    weight_type=QuantType.QUInt8,
                )
    preprocessor = {
        "crop_size": {"height": _IMAGE_SIZE, "width": _IMAGE_SIZE},
        "size": {"shortest_edge": _IMAGE_SIZE},
        "do_center_crop": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    (directory / "livesight_clip.json").write_text(json.dumps({"logit_scale": float(model.logit_scale.detach().exp())}))
    return directory
