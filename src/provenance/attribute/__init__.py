"""Source attribution: which kind of source published a training item, and the source mix of a trace.

Python API::

    from provenance.attribute import SourceClassifier, classify_rows
    SourceClassifier().classify("https://www.shutterstock.com/image-photo/x-260nw-1.jpg", "a woman").label  # 'stock'
    classify_rows(table, url_col="url", caption_col="caption")  # pyarrow Table with label, p_<class>, evidence

Index builds and traces use :func:`provenance.attribute.hooks.build_hooks` / ``trace_hooks``.
"""

from __future__ import annotations

from .classifier import Attribution, SourceClassifier
from .table import classify_rows
from .taxonomy import Taxonomy, TaxonomyError, load_taxonomy

__all__ = ["Attribution", "SourceClassifier", "Taxonomy", "TaxonomyError", "classify_rows", "load_taxonomy"]
