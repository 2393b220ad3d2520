"""``python -m seqkit`` is the ``seqkit`` command (also under ``torchrun -m seqkit``)."""
from .cli import main

if __name__ == "__main__":
    main()
