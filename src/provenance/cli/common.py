"""Options and output helpers shared by commands."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from ..errors import UsageError


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def parse_size(text: str | None) -> int | None:
    """'4GB', '512M', '1.5GiB' -> bytes."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?b?)\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read size {text!r}: write e.g. 4GB or 512MB")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2)]
    return int(float(m.group(1)) * mult)


def progress_enabled(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is read by people too (logs, CI): do not squeeze tables into 80 columns.
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=None if stream.isatty() else 160)


def untrained_note(identity: dict) -> str | None:
    if identity.get("trained", True):
        return None
    return (
        f"encoder {identity['spec']} is untrained (random weights): similarities show near-duplication, not meaning. "
        "For real results index with trained CLIP weights, e.g. --encoder open_clip:ViT-B-32/laion2b_s34b_b79k "
        "(offline: --encoder 'open_clip:ViT-B-32@/path/to/open_clip_model.safetensors')."
    )


precision_option = click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    default="auto",
    show_default=True,
    help="Inference precision; auto = bf16 on CPUs with bf16 units, fp16 on CUDA. Checked against fp32 on the first batch.",
)
def engine_option(what: str):
    """``--engine auto|onnx|torch``: what embeds ``what``."""
    return click.option(
        "--engine",
        type=click.Choice(["auto", "onnx", "torch"]),
        default=None,
        help=f"What embeds {what}: auto (default; $PROVENANCE_ENGINE) uses a compiled ONNX copy of the model's "
             "image tower for float32 on the CPU, made once per weights and cached (exact to cosine 0.99999, faster to "
             "start and to run there); torch always uses the PyTorch model.",
    )


device_option = click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one machine-readable JSON document.")
progress_option = click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
