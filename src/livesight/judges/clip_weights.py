"""Where the local CLIP judge's ONNX weights come from: a directory, the Hugging Face cache, or the hub.

The files (the layout of ``Xenova/clip-vit-base-patch32``, an ONNX export of OpenAI's CLIP ViT-B/32):
``onnx/vision_model[_quantized].onnx``, ``onnx/text_model[_quantized].onnx``, ``tokenizer.json`` and
``preprocessor_config.json``. ``LIVESIGHT_CLIP_MODEL_DIR`` names a directory holding them (at its root or
under ``onnx/``); otherwise they are looked up in the Hugging Face cache (``LIVESIGHT_CLIP_CACHE_DIR``, else
``HF_HOME``'s, default ``~/.cache/huggingface/hub``) and, when asked to, downloaded there with a progress
bar.

Download them ahead of time with ``python -m livesight.judges.clip_download``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from livesight.judges.errors import JudgeNotConfigured
from livesight.settings import Settings

__all__ = [
    "CLIP_EXTRA_HINT",
    "ClipFiles",
    "ClipUnavailable",
    "clip_runtime_missing",
    "fetch_clip_files",
    "find_clip_files",
    "unavailable",
]

log = logging.getLogger(__name__)

CLIP_EXTRA_HINT = "pip install -e '.[clip]' in a clone (pip install 'livesight[clip]' from a package index)"
DOWNLOAD_COMMAND = "python -m livesight.judges.clip_download"
_RUNTIME_MODULES = ("onnxruntime", "tokenizers", "huggingface_hub")
_PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class ClipFiles:
    """The files of one CLIP model on disk; ``source`` says where they came from (for logs and names)."""

    vision: Path
    text: Path
    tokenizer: Path
    preprocessor: Path | None
    source: str


class ClipUnavailable(JudgeNotConfigured):
    """The local CLIP judge cannot run: its extra is not installed, or its weights are missing.

    Keeps :class:`JudgeNotConfigured`'s code: to an API client it means the same (no usable judge).
    """


def _onnx_names(quantized: bool) -> list[tuple[str, str]]:
    """(vision, text) file names to try, preferred first: the chosen precision, then the other one."""
    names = [("vision_model_quantized.onnx", "text_model_quantized.onnx"), ("vision_model.onnx", "text_model.onnx")]
    return names if quantized else names[::-1]


def _repo_files(quantized: bool) -> list[str]:
    vision, text = _onnx_names(quantized)[0]
    return [f"onnx/{vision}", f"onnx/{text}", "tokenizer.json", "preprocessor_config.json"]


def clip_runtime_missing() -> str | None:
    """The first package of the ``clip`` extra that is not installed, or ``None`` when all are."""
    for module in _RUNTIME_MODULES:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def _hf_cache_dir(settings: Settings) -> Path:
    if settings.clip_cache_dir is not None:
        return Path(settings.clip_cache_dir).expanduser()
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _from_directory(root: Path, quantized: bool) -> ClipFiles | None:
    tokenizer = root / "tokenizer.json"
    if not tokenizer.is_file():
        return None
    for vision_name, text_name in _onnx_names(quantized):
        for folder in (root / "onnx", root):
            vision, text = folder / vision_name, folder / text_name
            if vision.is_file() and text.is_file():
                pre = root / "preprocessor_config.json"
                return ClipFiles(vision, text, tokenizer, pre if pre.is_file() else None, f"dir:{root}")
    return None


def _from_cache(repo: str, quantized: bool, cache: Path) -> ClipFiles | None:
    from huggingface_hub import try_to_load_from_cache

    for vision_name, text_name in _onnx_names(quantized):
        found = [
            try_to_load_from_cache(repo, name, cache_dir=cache)
            for name in (f"onnx/{vision_name}", f"onnx/{text_name}", "tokenizer.json", "preprocessor_config.json")
        ]
        vision, text, tokenizer, pre = (Path(p) if isinstance(p, str) else None for p in found)
        if vision is not None and text is not None and tokenizer is not None:
            return ClipFiles(vision, text, tokenizer, pre, f"hub:{repo}")
    return None


def find_clip_files(settings: Settings) -> ClipFiles | None:
    """The CLIP files already on this machine (``clip_model_dir`` or the cache); never touches the network."""
    if clip_runtime_missing() is not None:
        return None
    if settings.clip_model_dir is not None:
        return _from_directory(Path(settings.clip_model_dir).expanduser(), settings.clip_quantized)
    return _from_cache(settings.clip_model, settings.clip_quantized, _hf_cache_dir(settings))


def unavailable(settings: Settings, reason: str) -> ClipUnavailable:
    """The one message that says exactly what to do when local CLIP cannot run."""
    missing = clip_runtime_missing()
    if missing is not None:
        return ClipUnavailable(
            f"Local CLIP needs the '{missing}' package, which is not installed.",
            remediation=f"Install the extra: {CLIP_EXTRA_HINT} — or set LIVESIGHT_MODEL_BASE_URL (and "
            "LIVESIGHT_MODEL, LIVESIGHT_MODEL_API_KEY) to use a model server instead.",
        )
    files = ", ".join(_repo_files(settings.clip_quantized))
    if settings.clip_model_dir is not None:
        return ClipUnavailable(
            f"LIVESIGHT_CLIP_MODEL_DIR={settings.clip_model_dir} does not hold the CLIP files ({files}).",
            remediation="Copy them there from the Hugging Face repository "
            f"{settings.clip_model}, or unset LIVESIGHT_CLIP_MODEL_DIR to download them with {DOWNLOAD_COMMAND}.",
        )
    return ClipUnavailable(
        f"Local CLIP weights ({settings.clip_model}) are not in the cache {_hf_cache_dir(settings)} and cannot be "
        f"downloaded: {reason}.",
        remediation=f"Run `{DOWNLOAD_COMMAND}` once with internet access (about "
        f"{'155' if settings.clip_quantized else '600'} MB), or copy {files} from "
        f"https://huggingface.co/{settings.clip_model} into a directory and set LIVESIGHT_CLIP_MODEL_DIR to it, "
        "or set LIVESIGHT_MODEL_BASE_URL (and LIVESIGHT_MODEL) to use a model server instead.",
    )


def _hub_reachable(repo: str) -> str | None:
    """``None`` when the hub answers; otherwise why not. One quick request, so offline fails in seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        response = httpx.head(f"{endpoint}/api/models/{repo}", timeout=_PROBE_TIMEOUT, follow_redirects=True)
    except httpx.HTTPError as exc:
        return f"{endpoint} is unreachable ({type(exc).__name__}: {exc})"
    if response.status_code in (401, 404):
        return f"{endpoint} has no public repository {repo!r} (HTTP {response.status_code})"
    if response.status_code >= 500:
        return f"{endpoint} answered HTTP {response.status_code}"
    return None


def fetch_clip_files(settings: Settings) -> ClipFiles:
    """The CLIP files, downloaded into the Hugging Face cache first if needed (blocking; progress bars on stderr).

    Raises :class:`ClipUnavailable` with what to do when the extra is missing, ``clip_model_dir`` lacks
    the files, downloads are off (``clip_download``) or the hub cannot be reached.
    """
    found = find_clip_files(settings)
    if found is not None:
        return found
    if clip_runtime_missing() is not None or settings.clip_model_dir is not None:
        raise unavailable(settings, "")
    if not settings.clip_download:
        raise unavailable(settings, "downloads are turned off (LIVESIGHT_CLIP_DOWNLOAD=false)")
    problem = _hub_reachable(settings.clip_model)
    if problem is not None:
        raise unavailable(settings, problem)
    from huggingface_hub import hf_hub_download

    cache = _hf_cache_dir(settings)
    log.info("downloading CLIP weights %s into %s", settings.clip_model, cache)
    try:
        for name in _repo_files(settings.clip_quantized):
            hf_hub_download(settings.clip_model, name, cache_dir=cache)
    except Exception as exc:  # the hub's errors are many (HTTP, xet, disk): each means "not available"
        raise unavailable(settings, f"{type(exc).__name__}: {exc}") from exc
    files = find_clip_files(settings)
    if files is None:
        raise unavailable(settings, "the downloaded files are not where the cache says")
    return files
