"""The embedded synthetic multilingual benchmark: an XTREME-like suite plus an MLM corpus from a seed.

A language-independent world (`world.py`) yields meaning representations (`mr.py`), from which every
label is computed (`items.py`); six languages realise them (`languages.py`) as tasks with the Hub's
schemas (`tasks.py`) and as a pretraining corpus (`corpus.py`), with one word-level tokenizer
(`tokenizer.py`), all written reproducibly to disk (`io.py`). `check.py` verifies that the targets have
no surface shortcuts.
"""

from xscale.synth.config import LANGUAGES, PRESETS, SynthConfig, make_config
from xscale.synth.io import ensure, generate, load_corpus, load_task, load_tokenizer, read_manifest
from xscale.synth.tasks import INTERMEDIATE_TASKS, TARGET_TASKS

__all__ = ["INTERMEDIATE_TASKS", "LANGUAGES", "PRESETS", "TARGET_TASKS", "SynthConfig", "ensure", "generate",
           "load_corpus", "load_task", "load_tokenizer", "make_config", "read_manifest"]
