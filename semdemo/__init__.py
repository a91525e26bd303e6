"""semdemo: an interactive Gradio demo that teaches sentence embeddings."""
import os

# Set before any tokenizer exists: data-loader workers forked after the fast tokenizer has run
# would otherwise deadlock or print a warning per worker.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
