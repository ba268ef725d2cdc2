"""``python -m livesight.judges.clip_download``: fetch local CLIP's weights ahead of time, with progress bars.

A module of its own (nothing imports it) so that ``python -m`` runs it without a second copy in memory.
"""

from __future__ import annotations

import argparse

from livesight.judges.clip_weights import ClipUnavailable, fetch_clip_files
from livesight.settings import load_settings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Download the local CLIP weights (or find them already there) and say where they are."""
    parser = argparse.ArgumentParser(description="Download LiveSight's local CLIP weights (ONNX).")
    parser.add_argument("--model", help="Hugging Face repository (default: LIVESIGHT_CLIP_MODEL)")
    parser.add_argument("--fp32", action="store_true", help="the full-precision files instead of int8")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"clip_download": True}
    if args.model:
        overrides["clip_model"] = args.model
    if args.fp32:
        overrides["clip_quantized"] = False
    settings = load_settings(**overrides)
    try:
        files = fetch_clip_files(settings)
    except ClipUnavailable as exc:
        print(f"livesight: error: {exc.message} {exc.remediation}")
        return 2
    print(f"CLIP weights ready ({files.source}): {files.vision}, {files.text}, {files.tokenizer}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
