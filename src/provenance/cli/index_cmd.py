"""``provenance index`` and ``provenance info``."""

from __future__ import annotations

import click

from .common import (console, device_option, emit_json, engine_option, json_option, parse_size, precision_option, progress_enabled,
                     progress_option, untrained_note)


@click.command("index")
@click.argument("name")
@click.option("--from", "sources", multiple=True, metavar="SOURCE",
              help="Image folder, .tar shards (paths, brace patterns, fsspec URLs), clip-retrieval embeddings folder, or "
                   "Hugging Face dataset (hub name, hf:NAME, save_to_disk folder, parquet). Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["auto", "images", "webdataset", "embeddings", "hf"]), default="auto",
              show_default=True, help="Source format (detected from SOURCE by default).")
@click.option("--encoder", default=None, metavar="SPEC",
              help="Encoder spec: tiny | open_clip:ARCH/TAG | open_clip:ARCH@weights.safetensors. "
                   "Default for a new index: open_clip:ViT-B-32/laion2b_s34b_b79k; an existing index keeps its own. "
                   "Required for precomputed embeddings (the model that made them).")
@click.option("--shards", default=None, metavar="A,B,...",
              help="Instead of --from: make NAME a sharded index searching these existing indexes together (same encoder).")
@click.option("--append", is_flag=True, help="Add SOURCE to an existing index (keys already present are skipped).")
@click.option("--overwrite", is_flag=True, help="Delete an existing index of this name and build it anew.")
@click.option("--strict", is_flag=True, help="Fail (exit 1, nothing committed) if any input item is skipped.")
@click.option("--index-factory", default=None, help="FAISS index factory string (default: chosen from the number of vectors).")
@click.option("--memory-budget", default=None, metavar="SIZE", help="Memory the index may use, e.g. 4GB (guides the index choice).")
@click.option("--target-recall", type=click.FloatRange(0.5, 1.0), default=0.95, show_default=True,
              help="Recall@10 the approximate index is tuned to reach.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--commit-every", type=click.IntRange(1), default=2048, show_default=True,
              help="Items per journaled part: at most this much work is redone after an interruption.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Image decoding threads.")
@click.option("--label-workers", type=click.IntRange(0, 64), default=None,
              help="Helper processes sharing source labelling in large builds (default: one per extra core; 0: none).")
@click.option("--split", default=None, help="[hf] dataset split (default: train).")
@click.option("--image-col", default=None, help="[hf] image column.")
@click.option("--caption-col", default=None, help="[hf] caption column.")
@click.option("--url-col", default=None, help="[hf] URL column.")
@click.option("--key-col", default=None, help="[hf] unique key column (default: row number).")
@click.option("--streaming", is_flag=True, default=None, help="[hf] stream the dataset instead of downloading it whole.")
@click.option("--taxonomy", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Source taxonomy file (classes, host lists, patterns) replacing or extending the built-in one.")
@click.option("--faces/--no-faces", default=True, show_default=True, help="Face cue (selfie evidence) from pixels, when pixels are available.")
@click.option("--ocr/--no-ocr", default=False, show_default=True, help="Read stock-agency watermark text off each image (slow: ~0.5 s/image).")
@click.option("--zero-shot/--no-zero-shot", default=None, help="CLIP zero-shot source prompts (default: on for trained encoders; never with untrained ones).")
@precision_option
@device_option
@engine_option("the images")
@progress_option
@json_option
def index_cmd(name, sources, shards, fmt, encoder, append, overwrite, strict, index_factory, memory_budget, target_recall,
              batch_size, commit_every, workers, label_workers, split, image_col, caption_col, url_col, key_col, streaming,
              taxonomy, faces, ocr, zero_shot, precision, device, engine, progress, as_json):
    """Build, resume or extend the index NAME from one or more sources.

    NAME is a plain name (stored under ./indexes/, or $PROVENANCE_INDEXES) or a directory path.
    An interrupted build resumes when the same command is run again. Unusable inputs are
    skipped, counted and listed (NAME/skipped.jsonl); --strict makes any skip an error.

    \b
    Examples:
      provenance index people --from photos/ --encoder tiny
      provenance index laion --from 'shards/{00000..00099}.tar' --encoder open_clip:ViT-B-32/laion2b_s34b_b79k
      provenance index laion400m --from laion400m-embeddings/ --encoder open_clip:ViT-B-32/openai
      provenance index people --from more-photos/ --append
      provenance index laion --shards laion-000,laion-001,laion-002
    """
    from ..errors import UsageError
    from ..index import BuildOptions, build_index

    if shards:
        if sources:
            raise UsageError("--shards and --from contradict each other: build shards with --from, then list them")
        from ..index.sharded import create_sharded

        m = create_sharded(name, [s.strip() for s in shards.split(",") if s.strip()], overwrite=overwrite)
        if as_json:
            emit_json(m)
        else:
            console().print(f"[bold]{m['name']}[/bold]: sharded index over {len(m['shards'])} indexes, {m['count']} items "
                            f"({', '.join(s['name'] for s in m['shards'])})")
        return
    if not sources:
        raise UsageError("nothing to index: give --from SOURCE (or --shards A,B to combine existing indexes)")

    if append and overwrite:
        raise UsageError("--append and --overwrite contradict each other: choose one")
    hf = {"split": split, "image_col": image_col, "caption_col": caption_col, "url_col": url_col, "key_col": key_col,
          "streaming": streaming}
    opts = BuildOptions(
        encoder=encoder, fmt=fmt, append=append, overwrite=overwrite, strict=strict, index_factory=index_factory,
        memory_budget=parse_size(memory_budget), target_recall=target_recall, batch_size=batch_size,
        commit_every=commit_every, precision=precision, device=device, engine=engine, workers=workers,
        hf={k: v for k, v in hf.items() if v is not None}, progress=progress_enabled(progress),
    )
    from ..attribute.hooks import build_hooks

    hooks = build_hooks(taxonomy=taxonomy, faces=faces, ocr=ocr, zero_shot=zero_shot, workers=label_workers)
    report = build_index(name, list(sources), opts, **hooks)
    if as_json:
        emit_json(report.to_dict())
        return
    _print_report(report)


def _print_report(r) -> None:
    out = console()
    if r.up_to_date:
        out.print(f"[bold]{r.index}[/bold] is up to date: every unit of these sources is already indexed ({r.count} items).")
        return
    verb = "resumed and committed" if r.resumed else "committed"
    out.print(f"[bold]{r.index}[/bold]: {verb} {r.added} new item(s); {r.count} in total "
              f"({r.faiss['factory']}, {r.encoder['spec']}, {r.precision or 'precomputed'}"
              + (f" via {r.embedding_engine}" if r.embedding_engine else "") + f") in {r.seconds:.1f}s")
    if r.already_indexed:
        out.print(f"  {r.already_indexed} item(s) were already in the index (same key) and were not added again")
    if r.skipped:
        out.print(f"  [yellow]{r.skipped} input(s) skipped[/yellow]: " + ", ".join(f"{n} {k}" for k, n in sorted(r.skip_reasons.items(), key=lambda x: -x[1])))
        for s in r.skipped_examples[:5]:
            out.print(f"    {s['ref']}: {s['reason']}" + (f" ({s['detail']})" if s.get("detail") else ""), markup=False)
        if r.skips_file:
            out.print(f"  full list: {r.skips_file}", markup=False)
    note = untrained_note(r.encoder)
    if note:
        out.print(f"  [dim]note: {note}[/dim]")


@click.command("info")
@click.argument("index", required=False)
@json_option
def info_cmd(index, as_json):
    """Describe an index: size, encoder, FAISS type, sources and skipped inputs."""
    from ..index import open_index

    from ..encoders import onnx_engine

    ix = open_index(index)
    m = ix.manifest
    compiled = onnx_engine.status(ix.encoder_identity.fingerprint)
    if as_json:
        emit_json({"path": str(ix.path), **m, "compiled_query_encoder": compiled})
        return
    out = console()
    out.print(f"[bold]{ix.name}[/bold] at {ix.path}", markup=True)
    out.print(f"  items: {m['count']}   dim: {m['dim']}   faiss: {m['faiss']['factory']}"
              + (f" (nprobe {m['faiss']['nprobe']})" if m['faiss'].get('nprobe') else ""))
    out.print(f"  encoder: {m['encoder']['spec']} (weights {m['encoder'].get('fingerprint') or 'unverified'}), precision {m.get('precision')}"
              + (f", images embedded by {m['embedding_engine']}" if m.get("embedding_engine") else ""), markup=False)
    out.print(f"  compiled query encoder: {compiled['state']}"
              + (f" ({compiled['path']})" if compiled["state"] == "compiled" else f" ({compiled['why']})"), markup=False)
    out.print(f"  created {m['created']}, updated {m['updated']}")
    for s in m.get("sources", []):
        out.print(f"  source {s['source']} [{s.get('format')}]: {s['ingested']} ingested, {s['skipped']} skipped"
                  + (f" ({', '.join(f'{n} {k}' for k, n in s['skip_reasons'].items())})" if s.get("skip_reasons") else ""), markup=False)
    note = untrained_note(m["encoder"])
    if note:
        out.print(f"  [dim]note: {note}[/dim]")
