"""Where rows sit inside a run: their order keys and their trace slots.

A run's rows are generated cell by cell and sorted by (run, order); the order key also
lets an abandoned run be cut at a point (every row from that order on is missing).
"""

from __future__ import annotations

import numpy as np

from rvbbit_assets.demo.catalog import CASCADES

CASCADE_ORDER = 0
COMPLETION_ORDER = 10_000
# Offsets of a cell's rows from its base order.
CELL, USER, AGENT, TOOL_CALL, TOOL_RESULT, SUB_CASCADE_REF, AGENT_TURN_2 = 0, 1, 10, 11, 12, 13, 14
TOOL_CALL_2, TOOL_RESULT_2, AGENT_TURN_3 = 15, 16, 17  # a tool that needs another round
TAKE, EVALUATOR, REFORGE, LOOP, CELL_ERROR, RETRY = 20, 30, 40, 50, 90, 91

MAX_CELLS = max(len(c.cells) for c in CASCADES)
MAX_TAKES = max(cell.takes for c in CASCADES for cell in c.cells)
# Trace nodes of a run: the cascade, each cell, each take of each cell.
TRACE_SLOTS = 1 + MAX_CELLS + MAX_CELLS * MAX_TAKES


def cell_base_order(position: np.ndarray | int) -> np.ndarray | int:
    return (position + 1) * 100


def cell_slot(position: int) -> int:
    return 1 + position


def take_slot(position: int, take: int) -> int:
    return 1 + MAX_CELLS + position * MAX_TAKES + take
