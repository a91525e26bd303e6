"""Launch semdemo: parse the flags, build the UI, serve it.

`demo` is built at import too, so a Hugging Face Space or `gradio app.py` finds it.
"""
import argparse
import os
import sys

from semdemo.data import MAX_UPLOAD_MB
from semdemo.ui import build_demo


def env(*names: str, default: str | None = None) -> str | None:
    """The first of these environment variables that is set (our own, then Gradio's)."""
    return next((os.environ[name] for name in names if os.environ.get(name)), default)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=env("SEMDEMO_HOST", "GRADIO_SERVER_NAME", default="127.0.0.1"),
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int,
                        default=int(env("SEMDEMO_PORT", "GRADIO_SERVER_PORT", default="7860")))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--device", default=env("SEMDEMO_DEVICE", default="auto"),
                        choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--model", default=env("SEMDEMO_MODEL"),
                        help="sentence-transformers directory or hub id (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--training", action=argparse.BooleanOptionalAction, default=None,
                        help="offer training in the Spam / ham tab (default on; SEMDEMO_TRAINING=0 "
                             "turns it off): a training replaces the served model for every user")
    args = parser.parse_args(argv)
    if args.training is None:
        args.training = switch(env("SEMDEMO_TRAINING", default="1"), "SEMDEMO_TRAINING", parser)
    return args


def switch(value: str, name: str, parser: argparse.ArgumentParser) -> bool:
    """An on/off environment value; anything else stops the start-up with a message, since a
    misspelt "off" must not leave training open on a public Space."""
    words = {"1": True, "on": True, "yes": True, "true": True,
             "0": False, "off": False, "no": False, "false": False}
    word = value.strip().lower()
    if word not in words:
        parser.error(f"{name}={value!r}: use 1/on/yes/true or 0/off/no/false")
    return words[word]


args = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
demo = build_demo(model=args.model, device=args.device, training=args.training)

if __name__ == "__main__":
    # Uploads over the limit are refused by the server before any handler reads them.
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                max_file_size=f"{MAX_UPLOAD_MB:g}mb")
