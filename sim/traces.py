"""CSV traces a scenario names (bandwidth, positions, availability): read in bounded memory, one line per problem."""
from __future__ import annotations

import csv
import io
from typing import Callable, TypeVar

from sim import limits

Row = TypeVar("Row")


def read_rows(path: str, name: str, columns: tuple[str, ...], parse_row: Callable[[str, dict], Row], *,
              allow_empty: bool = False) -> list[Row]:
    """Every row of the CSV trace at `path`, parsed by parse_row(where, record).

    `name` says what the file is ("bandwidth trace 'x.csv'"); every ValueError starts with it, and a row's with
    its number and line. The header must hold exactly `columns`, in any order; each row exactly those fields.
    """
    try:
        text = limits.read_bounded(path, limits.MAX_TRACE_BYTES, name).decode("utf-8-sig")  # (spreadsheets add a BOM)
    except limits.LimitError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path, or not UTF-8
        raise ValueError(f"{name} cannot be read: {limits.read_problem(exc)}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        if reader.fieldnames is None or sorted(reader.fieldnames) != sorted(columns):
            raise ValueError(f"{name} must have the columns {','.join(columns)}")
        for number, record in enumerate(reader, start=1):
            where = f"{name}: row {number} (line {reader.line_num})"
            if None in record or None in record.values():  # more fields than the header, or fewer
                raise ValueError(f"{where}: needs exactly the {len(columns)} fields {','.join(columns)}")
            rows.append(parse_row(where, record))
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL, a stray quote
        raise ValueError(f"{name}: line {max(1, reader.reader.line_num)}: {exc}") from None
    if not rows and not allow_empty:
        raise ValueError(f"{name} has no rows")
    return rows
