"""``provenance demo``: an offline corpus, index and example study that show what the tool does."""

from .corpus import Corpus, build_corpus
from .examples import make_examples, shipped_examples

__all__ = ["Corpus", "build_corpus", "make_examples", "shipped_examples"]
