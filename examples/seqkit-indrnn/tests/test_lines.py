"""The ``lines`` dataset: seqkit's conformance suite and its error messages."""
from pathlib import Path

import pytest

from seqkit.errors import DataError
from seqkit.testing import parametrize_checks
from seqkit_indrnn import lines_dataset

SAMPLE = Path(__file__).parent / "data" / "names.tsv"


@parametrize_checks("dataset", lines_dataset, path=str(SAMPLE))
def test_conformance(check):
    check()


def test_reads_pairs_and_sorted_labels():
    ds = lines_dataset(str(SAMPLE))
    assert len(ds) == 10 and ds[0] == ("Nakamura", "Japanese") and ds[-1] == ("王", "Chinese")
    assert ds.labels == ["Chinese", "German", "Irish", "Japanese", "Russian"]


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("Abe\tJapanese\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:2: no '\\t'"):
        lines_dataset(str(path))
    with pytest.warns(UserWarning, match="skipped 1 bad line"):
        ds = lines_dataset(str(path), on_bad_line="skip")
    assert len(ds) == 1 and ds.skipped.count == 1


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        lines_dataset(str(tmp_path / "nope.tsv"))
