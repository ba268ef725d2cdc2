"""CLIP's two towers on ONNX Runtime (CPU): images and texts to unit-length embeddings.

Preprocessing follows ``CLIPImageProcessor`` (resize the short side, centre crop, scale, normalise) in
NumPy and Pillow, tokenisation uses the model's ``tokenizer.json`` with the ``tokenizers`` library, so
neither PyTorch nor transformers is needed at run time. Loaded models are shared process-wide: a judge per
job costs nothing after the first.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from livesight.judges.clip_weights import ClipFiles

__all__ = ["DEFAULT_LOGIT_SCALE", "ClipModel", "load_clip_model"]

Embeddings = npt.NDArray[np.float32]

#: CLIP's learned temperature (exp(logit_scale)) is 100 for OpenAI's released models; the ONNX towers do
#: not carry it, so it is read from ``livesight_clip.json`` next to the files when present.
DEFAULT_LOGIT_SCALE = 100.0
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
_MAX_TOKENS = 77  # CLIP's text context length

_models: dict[tuple[ClipFiles, int], ClipModel] = {}
_models_lock = threading.Lock()


def _side(value: Any, default: int) -> int:
    """A size from a preprocessor config: ``224``, ``{"shortest_edge": 224}`` or ``{"height": 224, …}``."""
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for key in ("shortest_edge", "height", "width"):
            if isinstance(value.get(key), int):
                return int(value[key])
    return default


def _normalise(vectors: npt.NDArray[Any]) -> Embeddings:
    values: Embeddings = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    out: Embeddings = (values / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


class ClipModel:
    """One CLIP model loaded from ONNX files. Thread-safe: ONNX Runtime sessions may run concurrently."""

    def __init__(self, files: ClipFiles, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self.files = files
        self._vision = ort.InferenceSession(str(files.vision), options, providers=providers)
        self._text = ort.InferenceSession(str(files.text), options, providers=providers)
        self._text_inputs = {i.name for i in self._text.get_inputs()}
        self._vision_input = self._vision.get_inputs()[0].name
        self._tokenizer = Tokenizer.from_file(str(files.tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        config: dict[str, Any] = {}
        if files.preprocessor is not None:
            config = json.loads(files.preprocessor.read_text())
        shape = self._vision.get_inputs()[0].shape
        static = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else None
        self.crop = _side(config.get("crop_size"), static or 224)
        self.resize = _side(config.get("size"), self.crop)
        self.mean = np.asarray(config.get("image_mean", _OPENAI_MEAN), dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(config.get("image_std", _OPENAI_STD), dtype=np.float32).reshape(3, 1, 1)
        self.logit_scale = DEFAULT_LOGIT_SCALE
        extra = files.tokenizer.parent / "livesight_clip.json"
        if extra.is_file():
            self.logit_scale = float(json.loads(extra.read_text()).get("logit_scale", DEFAULT_LOGIT_SCALE))
        self._text_cache: dict[str, Embeddings] = {}
        self._text_lock = threading.Lock()

    # -- images -------------------------------------------------------------------------------
    def pixels(self, jpeg: bytes) -> npt.NDArray[np.float32]:
        """One image as CLIP's input: 3×crop×crop, normalised."""
        with Image.open(io.BytesIO(jpeg)) as opened:
            image = opened.convert("RGB")
        scale = self.resize / min(image.size)
        size = (max(self.crop, round(image.width * scale)), max(self.crop, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
        left, top = (image.width - self.crop) // 2, (image.height - self.crop) // 2
        image = image.crop((left, top, left + self.crop, top + self.crop))
        array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return ((array - self.mean) / self.std).astype(np.float32)

    def embed_images(self, jpegs: Sequence[bytes]) -> Embeddings:
        """Unit-length embeddings of JPEG (or PNG) images, one row each. Blocking."""
        batch = np.stack([self.pixels(j) for j in jpegs])
        outputs = self._vision.run(None, {self._vision_input: batch})
        return _normalise(self._pick(self._vision, outputs, "image_embeds"))

    # -- texts --------------------------------------------------------------------------------
    def embed_texts(self, texts: Sequence[str]) -> Embeddings:
        """Unit-length embeddings of ``texts`` (cached: conditions repeat on every check). Blocking."""
        rows: list[Embeddings] = []
        for text in texts:
            with self._text_lock:
                cached = self._text_cache.get(text)
            if cached is None:
                cached = self._embed_text(text)
                with self._text_lock:
                    if len(self._text_cache) > 4096:
                        self._text_cache.clear()
                    self._text_cache[text] = cached
            rows.append(cached)
        return np.stack(rows)

    def _embed_text(self, text: str) -> Embeddings:
        # One text per run, unpadded: the towers pool at the end-of-text token, which padding would move.
        ids = np.asarray([self._tokenizer.encode(text).ids], dtype=np.int64)
        feeds: dict[str, npt.NDArray[np.int64]] = {"input_ids": ids}
        if "attention_mask" in self._text_inputs:
            feeds["attention_mask"] = np.ones_like(ids)
        if "position_ids" in self._text_inputs:
            feeds["position_ids"] = np.arange(ids.shape[1], dtype=np.int64)[None, :]
        outputs = self._text.run(None, feeds)
        row: Embeddings = _normalise(self._pick(self._text, outputs, "text_embeds"))[0]
        return row

    @staticmethod
    def _pick(session: Any, outputs: list[Any], name: str) -> npt.NDArray[Any]:
        names = [o.name for o in session.get_outputs()]
        if name in names:
            return np.asarray(outputs[names.index(name)])
        for output in outputs:  # an export that named it differently: the first (batch, dim) output
            if np.ndim(output) == 2:
                return np.asarray(output)
        raise ValueError(f"{session} has no {name!r} output (outputs: {names})")


def load_clip_model(files: ClipFiles, threads: int = 0) -> ClipModel:
    """The model for ``files``, loaded once per process (blocking: call from a thread)."""
    key = (files, threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = ClipModel(files, threads)
        return model
