"""Benchmark fine-tuning throughput: training steps of the two-stage model on this machine.

Usage: ``python tools/bench_finetune.py [--patch 64] [--batch 24] [--steps 3] [--arch two_stage]``

A training step is what fine-tuning repeats: Algorithm 1 noise on a batch, forward pass,
the paper's two losses (MSE on the noise, L1 on the image), backward pass and one Adam
step. It is timed in fp32 and under bf16 autocast in the same run, on patches of the
training size and on whole 512x512 slices (batch 1), and reported as

- patches per second, and
- slices per second: 512x512 slice-equivalents of pixels per second (the cost of a
  convolution-only network is proportional to its pixel count),

with the ratio bf16 / fp32, and the speed-up of ``meddenoise finetune --freeze nen``
(stage I fixed: no gradients for the noise estimation network) on the patch configuration
in fp32. Timings are the median of ``--steps`` steps after one warm-up
step. bf16 autocast needs a CPU with AVX-512 BF16 or AMX (or a GPU) to pay; elsewhere the
ratio shows that it does not.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from meddenoise.device import resolve_device
from meddenoise.models import available_models, build_model
from meddenoise.models.base import Denoiser

SLICE_PIXELS = 512 * 512


@dataclass(frozen=True)
class Timing:
    """Median seconds per training step of one configuration."""

    label: str
    precision: str
    batch: int
    side: int
    seconds: float

    @property
    def patches_per_second(self) -> float:
        """Patches per second."""
        return self.batch / self.seconds

    @property
    def slices_per_second(self) -> float:
        """512x512 slice-equivalents of pixels per second."""
        return self.batch * self.side * self.side / SLICE_PIXELS / self.seconds


def time_training_step(
    model: Denoiser,
    optimizer: torch.optim.Optimizer,
    *,
    batch: int,
    side: int,
    precision: str,
    steps: int,
    device: torch.device,
) -> float:
    """Return the median seconds of ``steps`` training steps after one warm-up step."""
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(batch, 3, side, side, generator=gen).to(device)
    sigma = torch.rand(batch, 1, 1, 1, generator=gen).to(device) * 75.0 / 255.0
    noise = torch.randn(clean.shape, generator=gen).to(device) * sigma
    noisy = (clean + noise).clamp(0.0, 1.0)
    true_noise = noisy - clean
    clean = clean.contiguous(memory_format=torch.channels_last)
    noisy = noisy.contiguous(memory_format=torch.channels_last)
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    autocast = precision == "bf16"
    times = []
    for step in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(noisy)
            loss = mse(out.noise.float(), true_noise) + l1(out.clean.float(), clean)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=available_models(), default="two_stage")
    parser.add_argument("--patch", type=int, default=64, help="training patch side")
    parser.add_argument("--batch", type=int, default=24, help="patches per step")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--no-slices", action="store_true", help="skip the whole-512x512-slice configuration"
    )
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip the frozen-stage-I configuration"
    )
    parser.add_argument(
        "--precisions",
        default="fp32,bf16",
        help="comma-separated precisions to time (fp32, bf16); the ratio needs both",
    )
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not precisions or set(precisions) - {"fp32", "bf16"}:
        parser.error(f"--precisions takes fp32 and/or bf16, got {args.precisions!r}")

    configs = [(f"{args.batch} x {args.patch}^2 patches", args.batch, args.patch)]
    if not args.no_slices:
        configs.append(("1 x 512^2 slice", 1, 512))
    print(
        f"fine-tuning throughput: {args.arch}, Adam, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {device}"
    )
    results: list[Timing] = []
    for label, batch, side in configs:
        for precision in precisions:
            torch.manual_seed(0)
            model = build_model(args.arch).to(device)
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
            model.train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
            seconds = time_training_step(
                model,
                optimizer,
                batch=batch,
                side=side,
                precision=precision,
                steps=args.steps,
                device=device,
            )
            timing = Timing(label, precision, batch, side, seconds)
            results.append(timing)
            print(
                f"  {label:<22} {precision:<5} {seconds:8.2f} s/step "
                f"{timing.patches_per_second:8.2f} patches/s "
                f"{timing.slices_per_second:8.3f} slices/s",
                flush=True,
            )
    frozen: Timing | None = None
    if not args.no_freeze and args.arch == "two_stage":
        torch.manual_seed(0)
        model = build_model(args.arch).to(device)
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
        model.train()
        for param in model.get_submodule("nen").parameters():
            param.requires_grad_(False)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=1e-4, betas=(0.9, 0.99))
        seconds = time_training_step(
            model,
            optimizer,
            batch=args.batch,
            side=args.patch,
            precision="fp32",
            steps=args.steps,
            device=device,
        )
        frozen = Timing(f"{configs[0][0]}, NEN frozen", "fp32", args.batch, args.patch, seconds)
        print(
            f"  {frozen.label:<22} fp32  {seconds:8.2f} s/step "
            f"{frozen.patches_per_second:8.2f} patches/s "
            f"{frozen.slices_per_second:8.3f} slices/s",
            flush=True,
        )
    print(f"CPU capability seen by torch: {torch.backends.cpu.get_cpu_capability()}")
    print("ratios measured in this run (higher is faster):")
    if len(configs) == 2:
        patch, whole = (next(t for t in results if t.label == c[0]) for c in configs)
        ratio = whole.slices_per_second / patch.slices_per_second
        print(f"  whole slices / patches, per pixel ({patch.precision}) = {ratio:.2f}x")
    if len(precisions) == 2:
        for label, _, _ in configs:
            fp32, bf16 = (t for t in results if t.label == label)
            print(f"  {label:<22} bf16 / fp32 throughput = {fp32.seconds / bf16.seconds:.2f}x")
    base = next((t for t in results if t.label == configs[0][0] and t.precision == "fp32"), None)
    if frozen is not None and base is not None:
        print(f"  NEN frozen / full fine-tuning throughput = {base.seconds / frozen.seconds:.2f}x")


if __name__ == "__main__":
    main()
