"""Built-in encoders: ``onehot`` (the course's 57 letters) and ``index`` (learned alphabet)."""
from __future__ import annotations

import string

from seqkit import hookimpl
from seqkit.data.encoding import Encoder

#: The course's alphabet: ``string.ascii_letters + " .,;'"`` (57 characters).
COURSE_LETTERS = string.ascii_letters + " .,;'"


def onehot(*, alphabet: str = COURSE_LETTERS, fold: bool = True, lowercase: bool = False) -> Encoder:
    """One-hot rows over a fixed alphabet (default: the course's 57 letters), accents folded
    to ASCII as in the PyTorch tutorial; other characters map to the unknown symbol."""
    return Encoder(alphabet, fold=fold, lowercase=lowercase, one_hot=True, name="onehot")


def index(*, fold: bool = False, lowercase: bool = False, min_count: int = 1) -> Encoder:
    """Symbol indices over the alphabet of the training texts (any Unicode), fed to a
    learned embedding; characters seen fewer than ``min_count`` times map to unknown."""
    return Encoder(None, fold=fold, lowercase=lowercase, one_hot=False, min_count=min_count, name="index")


@hookimpl
def seqkit_register_encoders(register):
    register("onehot", onehot, help="one-hot over the course's 57 letters (ascii_letters + \" .,;'\"), "
                                    "accents folded to ASCII")
    register("index", index, help="indices over the training alphabet (any Unicode) into a learned embedding")
