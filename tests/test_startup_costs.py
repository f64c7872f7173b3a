"""What a one-image trace must not pay for: eager TorchDynamo, pandas, random weights it overwrites,
a tokenizer it never uses, a float32-vs-reduced precision check for a handful of queries.

Import-time checks run in fresh interpreters: this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import provenance
from helpers import write_clip_retrieval
from provenance.encoders import model as model_mod
from provenance.index import build_index
from provenance.trace import tracer


def _fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_open_clip_imports_without_torch_dynamo_and_roi_align_still_works():
    got = _fresh(
        "import json, sys\n"
        "from provenance.encoders.imports import import_open_clip\n"
        "oc = import_open_clip()\n"
        "lazy = 'torch._dynamo' not in sys.modules\n"
        "left = 'torch._dynamo.utils' in sys.modules\n"
        "import torch, torchvision.ops as ops\n"
        "x = torch.rand(1, 3, 8, 8); boxes = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float)\n"
        "shape = list(ops.roi_align(x, boxes, 2).shape)\n"
        "ra = sys.modules['torchvision.ops.roi_align']\n"
        "real = ra.is_compile_supported('cpu')\n"  # the stand-in defers to the real function
        "import torch._dynamo.utils as du\n"
        "import open_clip.timm_model as tm\n"
        "restored = torch.compiler.disable.__module__ == 'torch.compiler'\n"
        "print(json.dumps({'lazy': lazy, 'left': left, 'shape': shape, 'real': real == du.is_compile_supported('cpu'),"
        " 'models': 'ViT-B-32' in oc.list_models(), 'timm': tm.timm is not None, 'restored': restored}))\n"
    )
    # timm (open_clip's optional towers) still imports: its @torch.compiler.disable methods are wrapped lazily
    assert got == {"lazy": True, "left": False, "shape": [1, 3, 2, 2], "real": True, "models": True, "timm": True,
                   "restored": True}


def test_lazily_disabled_functions_behave_like_the_real_ones():
    from provenance.encoders.imports import _lazy_disable

    seen = []

    def fake_disable(fn, recursive=True, **kw):
        seen.append((fn.__name__, recursive, kw))
        return fn

    disable = _lazy_disable(fake_disable)

    @disable
    def f(x, y=1):
        """doc"""
        return x + y

    @disable(recursive=False, reason="r")
    def g(x):
        return 2 * x

    assert seen == []  # nothing wrapped at decoration time
    assert [f(1), f(2, y=3), g(4), g(5)] == [2, 5, 8, 10]
    assert seen == [("f", True, {}), ("g", False, {"reason": "r"})]  # each wrapped once, on first call
    assert f.__name__ == "f" and f.__doc__ == "doc"


def test_neighbour_rows_do_not_import_pandas(tmp_path):
    n = 30
    rows = [{"key": f"k{i}", "url": f"https://example.org/{i}.jpg", "caption": f"item {i}"} for i in range(n)]
    vecs = np.random.default_rng(1).standard_normal((n, 256)).astype(np.float32)
    src = write_clip_retrieval(tmp_path / "emb", vecs, rows, per_file=10)
    build_index(tmp_path / "idx", str(src), encoder="tiny", fmt="embeddings", progress=False)
    got = _fresh(
        "import json, sys, provenance\n"
        f"ix = provenance.open_index({str(tmp_path / 'idx')!r})\n"
        "ix.prefetch()\n"
        "rows = ix.rows([29, 0, 15, 15])\n"
        "print(json.dumps({'keys': [r['key'] for r in rows], 'pandas': 'pandas' in sys.modules}))\n"
    )
    assert got == {"keys": ["k29", "k0", "k15", "k15"], "pandas": False}


def test_skip_weight_init_covers_multihead_attention():
    import torch

    with model_mod.skip_weight_init():
        torch.manual_seed(0)
        before = torch.random.get_rng_state()
        mha = torch.nn.MultiheadAttention(32, 4)
        lin = torch.nn.Linear(8, 8)
        assert torch.equal(torch.random.get_rng_state(), before)  # nothing drew random numbers
    torch.manual_seed(0)
    fresh = torch.nn.MultiheadAttention(32, 4)  # restored: initialisation draws again
    assert not torch.equal(torch.random.get_rng_state(), before)
    assert mha.in_proj_weight.shape == fresh.in_proj_weight.shape and lin.weight.shape == (8, 8)


def test_tokenizer_is_built_on_first_text_query():
    enc = provenance.load_encoder("tiny", precision="fp32")
    assert "tokenizer" not in enc.__dict__
    assert enc.embed_texts(["a selfie"]).shape == (1, enc.dim)
    assert "tokenizer" in enc.__dict__


def test_a_handful_of_queries_embeds_in_float32(tmp_path, photos, monkeypatch):
    assert tracer.query_precision("auto", 1) == "fp32"
    assert tracer.query_precision("auto", tracer.FEW_QUERIES) == "fp32"
    assert tracer.query_precision("auto", tracer.FEW_QUERIES + 1) == "auto"
    assert tracer.query_precision("bf16", 1) == "bf16"  # an explicit choice is kept
    assert tracer.FEW_QUERIES == model_mod.PRECISION_CHECK_ITEMS

    from helpers import record_precisions, write_folder

    folder = write_folder(tmp_path / "photos", photos)
    build_index(tmp_path / "idx", str(folder), encoder="tiny", progress=False)
    ix = provenance.open_index(tmp_path / "idx")
    asked = record_precisions(ix, monkeypatch)
    images = sorted(folder.rglob("*.jpg"))[:2]
    assert images
    ix.trace(images, k=3, ocr=False, faces=False)
    n_image = len(asked)
    ix.trace_text("a cat", k=3)
    assert n_image >= 1 and len(asked) == n_image + 1 and set(asked) == {"fp32"}
