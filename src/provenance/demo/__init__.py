"""``provenance demo``: an offline corpus, index and example study that show what the tool does."""

from .corpus import Corpus, build_corpus
from .examples import make_examples, shipped_examples
from .run import DemoSummary, run_demo

__all__ = ["Corpus", "DemoSummary", "build_corpus", "make_examples", "run_demo", "shipped_examples"]
