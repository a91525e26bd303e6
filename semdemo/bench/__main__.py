"""Dispatch `python -m semdemo.bench NAME [ARGS]` to `semdemo.bench.NAME.main(ARGS)`."""
import importlib
import pkgutil
import sys

import semdemo.bench


def main(argv: list[str]) -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(semdemo.bench.__path__) if m.name != "__main__")
    usage = f"usage: python -m semdemo.bench {{{','.join(names)}}} [ARGS]  (NAME --help for its ARGS)"
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return
    if not argv or argv[0] not in names:
        sys.exit(usage)
    importlib.import_module(f"semdemo.bench.{argv[0]}").main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
