"""_progress: one kind of progress bar, silent when disabled or empty."""

from __future__ import annotations

from symsim_widgets._progress import progress_bar


def test_iterates_and_counts(capsys):
    bar = progress_bar(range(5), desc="reading", unit="file", enabled=False)
    assert list(bar) == [0, 1, 2, 3, 4]
    assert bar.total == 5
    assert capsys.readouterr().err == ""


def test_manual_bar_shows_its_description(capsys):
    with progress_bar(total=3, desc="embedding (natural)", unit="img") as bar:
        bar.update(3)
    assert "embedding (natural)" in capsys.readouterr().err


def test_empty_bar_is_silent(capsys):
    with progress_bar(total=0, desc="nothing to do", unit="img"):
        pass
    assert capsys.readouterr().err == ""
