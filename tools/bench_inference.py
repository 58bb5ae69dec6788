"""Benchmark inference: speed per slice, efficiency, tiling and I/O overheads, peak memory.

Usage: ``python tools/bench_inference.py [--device cpu] [--repeats 2] [--sections 1,2,3,4]``

Everything is measured in one run on this machine and reported as ratios where a ratio
is the point:

1. ms per 256x256 and per 512x512 slice of the full model (random weights: speed does
   not depend on them), fp32 and bf16; achieved GFLOP/s (2 x 38.34 GMAC per 256x256x3,
   scaled by pixel count) as a fraction of the matmul peak measured in the same precision;
2. tiling overhead: tiled / untiled time on a 1024x1024 slice at the default tile;
3. end-to-end overhead: (read + normalise + write) / model time for a 100-slice 512x512
   DICOM series (written here from a synthetic CT volume);
4. peak resident memory denoising an 8192x8192 16-bit TIFF through the CLI path, in a
   child process (on a CPU it takes long with the full model, so ``--large-depth 1``
   uses a one-RRDB model with the same feature widths, which holds the same tile
   buffers).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from meddenoise.device import resolve_device
from meddenoise.engine.inference import TilingConfig, denoise_tensor
from meddenoise.models import build_model
from meddenoise.models.base import Denoiser
from meddenoise.models.summary import summarize_model

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _sync() -> None:
    """Wait for queued GPU work, so that wall time measures it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]  # any callable
    fn()  # warm-up
    _sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(precision: str, device: torch.device, size: int = 2048) -> float:
    """GFLOP/s of a large square matmul in ``precision``."""
    a = torch.rand(size, size, device=device, dtype=_DTYPES[precision])
    b = torch.rand(size, size, device=device, dtype=_DTYPES[precision])
    seconds = _timed(lambda: torch.matmul(a, b), 3)
    return 2 * size**3 / seconds / 1e9


def slice_speed(model: Denoiser, side: int, precision: str, repeats: int) -> tuple[float, float]:
    """Milliseconds per slice and achieved GFLOP/s for one ``side x side`` slice."""
    device = next(model.parameters()).device
    x = torch.rand(1, 3, side, side, device=device)
    config = TilingConfig(tile=side)
    seconds = _timed(lambda: denoise_tensor(model, x, config=config, precision=precision), repeats)
    macs = summarize_model(model, height=side, width=side)[-1].macs
    return seconds * 1000, 2 * macs / seconds / 1e9


def tiling_overhead(model: Denoiser, repeats: int, tile: int | None) -> tuple[float, int]:
    """Tiled / untiled time on a 1024x1024 slice at the default (or a given) tile size."""
    x = torch.rand(1, 3, 1024, 1024)
    default = TilingConfig() if tile is None else TilingConfig(tile=tile)
    untiled = _timed(lambda: denoise_tensor(model, x, config=TilingConfig(tile=1024)), repeats)
    tiled = _timed(lambda: denoise_tensor(model, x, config=default), repeats)
    return tiled / untiled, default.tile


def io_overhead(checkpoint: Path, work: Path) -> tuple[float, float, float]:
    """(read + normalise + write) / model time for a 100-slice 512x512 DICOM series."""
    from meddenoise.api import denoise_file, load_model

    series = _write_ct_series(work / "series", slices=100, side=512)
    loaded = load_model(checkpoint, device="cpu")
    result = denoise_file(series, work / "out", model=loaded, precision="fp32")
    overhead = (result.seconds - result.model_seconds) / result.model_seconds
    return overhead, result.seconds, result.model_seconds


def _write_ct_series(folder: Path, *, slices: int, side: int) -> Path:
    """Write a synthetic CT series (uint16, intercept -1024) with pydicom."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:side, :side]
    phantom = ((xx - side / 2) ** 2 + (yy - side / 2) ** 2 < (side * 0.4) ** 2) * 1000 + 24
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"CT{k:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "Bench^Phantom", "BENCH"
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing, ds.SliceThickness = [0.5, 0.5], 1.0
        ds.Rows = ds.Columns = side
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        noisy = phantom + rng.normal(0, 20, phantom.shape)
        ds.PixelData = np.clip(noisy, 0, 4095).astype(np.uint16).tobytes()
        ds.save_as(folder / f"CT{k:04d}.dcm", enforce_file_format=True)
    return folder


def large_tiff_peak_rss(checkpoint: Path, work: Path, tile: int | None) -> tuple[float, float]:
    """Peak RSS (MiB) of a child process denoising an 8192x8192 uint16 TIFF, and seconds."""
    import tifffile

    source = work / "large.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(source, rng.integers(0, 65535, (8192, 8192), dtype=np.uint16))
    code = (
        "import resource, sys; from meddenoise.api import denoise_file; "
        f"denoise_file({str(source)!r}, {str(work / 'large_out.tif')!r}, "
        f"model={str(checkpoint)!r}, device='cpu', precision='fp32', tile={tile or 512}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--sections", default="1,2,3,4", help="which measurements to run")
    parser.add_argument("--tile", type=int, default=None, help="tile of sections 2 and 4")
    parser.add_argument("--large-depth", type=int, default=3, help="RRDBs per stage, 8192^2")
    args = parser.parse_args(argv)
    sections = {int(x) for x in args.sections.split(",") if x}
    device = resolve_device(args.device)
    precisions = [p for p in args.precisions.split(",") if p]
    torch.manual_seed(0)
    model = build_model("two_stage").eval().to(device)
    print(
        f"inference benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {device}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    if 1 in sections:
        print("1. speed per slice (two_stage, untiled)")
    for precision in precisions if 1 in sections else []:
        peak = matmul_peak(precision, device)
        for side in (256, 512):
            ms, gflops = slice_speed(model, side, precision, args.repeats)
            print(
                f"   {side}x{side} {precision:<5} {ms:9.1f} ms/slice {gflops:7.1f} GFLOP/s "
                f"= {gflops / peak:5.1%} of the {precision} matmul peak ({peak:.1f} GFLOP/s)",
                flush=True,
            )
    if 2 in sections:
        ratio, tile = tiling_overhead(model, args.repeats, args.tile)
        print(f"2. tiling overhead, 1024x1024, tile {tile}: tiled / untiled = {ratio:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        from meddenoise.checkpoint import save_checkpoint

        checkpoint = save_checkpoint(work / "bench.pt", model.cpu())
        if 3 in sections:
            overhead, total, model_s = io_overhead(checkpoint, work)
            print(
                f"3. end-to-end, 100 x 512x512 DICOM: (read + normalise + write) / model = "
                f"{overhead:.3f} ({total:.1f} s in all, {model_s:.1f} s in the model)",
                flush=True,
            )
        if 4 in sections:
            small = save_checkpoint(
                work / "large.pt", build_model("two_stage", depth=args.large_depth)
            )
            rss, seconds = large_tiff_peak_rss(small, work, args.tile)
            raw = 8192 * 8192 * 2 / 2**20
            print(
                f"4. 8192x8192 uint16 TIFF (depth {args.large_depth}): peak RSS {rss:.0f} MiB "
                f"= {rss / raw:.1f}x the {raw:.0f} MiB image, {seconds:.0f} s"
            )


if __name__ == "__main__":
    main()
