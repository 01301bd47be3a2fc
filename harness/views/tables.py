"""Terminal tables that fit the terminal: the `tasks`, `models`, `suites` and `recipe` listings.

tabulate draws the table; this module only decides how wide the wrapping columns may be, and
drops the columns named droppable (last first) when even wrapped they would not fit. The width
is the terminal's (`COLUMNS`, else the real terminal), at most `MAX_WIDTH` = 100 columns, so a
listing piped to a file or pasted in a ticket keeps a readable width too.
"""
from __future__ import annotations

import json
import shutil
from typing import Any, Sequence

MAX_WIDTH = 100
MIN_WRAP = 12  # a wrapped column narrower than this is dropped instead (if droppable)
GAP = 2  # tabulate's "simple" format separates columns by two spaces
HEADER_PADDING = 2  # and makes each column at least its header + 2 wide (tabulate.MIN_PADDING)


def terminal_width() -> int:
    return max(40, min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns))


def _natural(rows: Sequence[Sequence[Any]], headers: Sequence[str], index: int) -> int:
    return max([len(str(headers[index])) + HEADER_PADDING] + [max((len(line) for line in str(r[index]).splitlines()), default=0) for r in rows])


def fit_table(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    wrap: Sequence[str] = (),
    droppable: Sequence[str] = (),
    width: int | None = None,
) -> str:
    """Render `rows` in at most `width` columns: the `wrap` columns share the room the others
    leave; if a wrapped column would get less than MIN_WRAP, drop `droppable` columns (last first)."""
    from tabulate import tabulate

    width = width or terminal_width()
    keep = list(range(len(headers)))
    drop_order = [headers.index(name) for name in reversed(droppable) if name in headers]
    while True:
        wrapped = [i for i in keep if headers[i] in wrap]
        fixed = sum(_natural(rows, headers, i) for i in keep if i not in wrapped)
        room = width - fixed - GAP * (len(keep) - 1)
        natural = {i: _natural(rows, headers, i) for i in wrapped}
        share = _share(room, natural)
        if all(share[i] >= min(max(MIN_WRAP, len(headers[i]) + HEADER_PADDING), natural[i]) for i in wrapped) and room >= 0 or not drop_order:
            break
        keep.remove(drop_order.pop(0))
    limits = [share.get(i) if i in wrapped else None for i in keep]
    table_rows = [[row[i] for i in keep] for row in rows]
    return tabulate(
        table_rows, headers=[headers[i] for i in keep], tablefmt="simple",
        maxcolwidths=[max(1, w) if w is not None else None for w in limits], disable_numparse=True,
    )


def _share(room: int, natural: dict[int, int]) -> dict[int, int]:
    """Split `room` among wrapped columns: narrow ones keep their natural width, the rest share."""
    share: dict[int, int] = {}
    pending = dict(natural)
    while pending:
        fair = room // len(pending)
        small = {i: w for i, w in pending.items() if w <= fair}
        if not small:
            share.update({i: fair for i in pending})
            break
        for i, w in small.items():
            share[i] = w
            room -= w
            del pending[i]
    return share


def as_json(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, indent=2, ensure_ascii=False)
