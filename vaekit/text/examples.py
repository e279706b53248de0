"""The lines a command works on for a text run: a file named on the command line, or a split of the run's corpus."""

from __future__ import annotations

from pathlib import Path

from vaekit.data.errors import DataError
from vaekit.data.lines import LineReport, read_lines


def lines_for_run(run: str | Path, data: str | None, split: str, report: LineReport) -> tuple[list[str], str]:
    """The lines of ``data`` (a file, one example per line), or else the ``split`` of the run's own corpus.

    Returns:
        The lines and a name of where they came from (for messages).

    Raises:
        DataError: a bare model folder without its run config and no ``data``, or a split the corpus lacks.
    """
    from vaekit.config import config_from_dict, read_yaml
    from vaekit.runs import RUN_CONFIG
    from vaekit.text.runs import load_corpus_for

    if data is not None:
        return read_lines(data, report), str(data)
    run = Path(run)
    if not (run / RUN_CONFIG).is_file():
        raise DataError(f"{run} is a bare model without its run's {RUN_CONFIG}: pass --data FILE.txt")
    corpus = load_corpus_for(config_from_dict(read_yaml(run / RUN_CONFIG)))
    splits = {"train": corpus.train, "validation": corpus.validation, "test": corpus.test}
    if split not in splits or not splits[split]:
        raise DataError(f"the run's corpus has no {split!r} split; valid: {[s for s in splits if splits[s]]}")
    return splits[split], split
