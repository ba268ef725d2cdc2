"""Local CLIP on CPU: PyTorch against ONNX Runtime (fp32 and int8), on a ViT-B/32-sized image tower.

    python benchmarks/clip_backends.py [--runs 30] [--threads 0]

Builds CLIP ViT-B/32's vision tower and projection (transformers' defaults: 224 px, patch 32, 12 layers,
width 768) with random weights — nothing is downloaded; speed does not depend on the weights' values —
exports it to ONNX, quantises it to int8 the way the hub's ``*_quantized.onnx`` files are, and times one
image at a time (what a check needs) on each runtime. Also prints the installed size of each runtime's
packages. Needs the test extra (torch, transformers, onnx) besides ``livesight[clip]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np


def package_mb(*names: str) -> float:
    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        total += sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return total / 1e6


def timed(run: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(3):
        run()  # warm-up: first runs allocate and plan
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), sorted(samples)[int(0.9 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for both runtimes (0: their default)")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(projection_dim=512))
    model.train(False)
    pixels = torch.randn(1, 3, 224, 224)
    rows: list[tuple[str, float, float, float]] = []
    with torch.no_grad():
        median, p90 = timed(lambda: model(pixel_values=pixels).image_embeds, args.runs)
    rows.append(("PyTorch fp32", median, p90, package_mb("torch", "transformers", "safetensors", "tokenizers")))

    with tempfile.TemporaryDirectory() as scratch:
        fp32, int8 = Path(scratch) / "vision_model.onnx", Path(scratch) / "vision_model_quantized.onnx"

        class Tower(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model  # a submodule, so its weights export as weights

            def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
                return self.model(pixel_values=pixel_values).image_embeds  # type: ignore[no-any-return]

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(Tower(), (pixels,), str(fp32), input_names=["pixel_values"], dynamo=False)
            quantize_dynamic(fp32, int8, weight_type=QuantType.QUInt8)
        options = ort.SessionOptions()
        if args.threads:
            options.intra_op_num_threads = args.threads
        feed = {"pixel_values": pixels.numpy().astype(np.float32)}
        onnx_mb = package_mb("onnxruntime", "tokenizers", "huggingface_hub")
        for label, path in (("ONNX Runtime fp32", fp32), ("ONNX Runtime int8", int8)):
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            median, p90 = timed(lambda s=session: s.run(None, feed), args.runs)
            rows.append((f"{label} ({path.stat().st_size / 1e6:.0f} MB file)", median, p90, onnx_mb))

    print(f"CLIP ViT-B/32 image tower, batch 1, {args.runs} runs, {args.threads or 'default'} threads")
    print(f"{'runtime':<36} {'median ms':>9} {'p90 ms':>7} {'packages MB':>11}")
    for label, median, p90, size in rows:
        print(f"{label:<36} {median:>9.1f} {p90:>7.1f} {size:>11.0f}")


if __name__ == "__main__":
    main()
