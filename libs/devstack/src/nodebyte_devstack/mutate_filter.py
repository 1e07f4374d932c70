"""Thin a cosmic-ray session before `exec` (run with any python3: stdlib only).

Two kinds of mutant are dropped:
- those inside a type annotation: every module here has `from __future__ import
  annotations`, so annotations are never evaluated and such mutants are equivalent;
- all but one replacement of the same binary/comparison operator at the same place
  (`a * b` -> `a + b`, `a - b`, `a / b`, ... ten mutants that one test kills or none
  does): one per site, as mutmut makes.

With LINES ("120-180,200-240") only the mutants on those lines are kept: one part
of a large module (the rest is someone else's test suite's job).

usage: python3 mutate_filter.py SESSION.sqlite MODULE.py [LINES]
"""

from __future__ import annotations

import ast
import sqlite3
import sys
from pathlib import Path

FAMILIES = ("ReplaceBinaryOperator_", "ReplaceComparisonOperator_", "ReplaceUnaryOperator_")


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for a in annotations:
            if a is not None:
                spans.append(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)))
    return spans


def in_lines(lines: str, row: int) -> bool:
    ranges = [part.split("-") for part in lines.split(",") if part]
    return not ranges or any(int(a) <= row <= int(b) for a, b in ranges)


def main(session: str, module: str, lines: str = "") -> None:
    spans = annotation_spans(Path(module).read_text())
    db = sqlite3.connect(session)
    rows = db.execute(
        "SELECT job_id, operator_name, start_pos_row, start_pos_col FROM mutation_specs"
        " ORDER BY start_pos_row, start_pos_col, operator_name"
    ).fetchall()
    drop, sites = [], set()
    for job, operator, row, col in rows:
        name = operator.split("/")[-1]
        inside = any(start <= (row, col) < end for start, end in spans)
        family = next((f for f in FAMILIES if name.startswith(f)), None)
        site = (family, row, col, name.split("_")[1] if family else None)
        if inside or not in_lines(lines, row) or (family and site in sites):
            drop.append(job)
        elif family:
            sites.add(site)
    for table in ("mutation_specs", "work_results", "work_items"):
        db.executemany(f"DELETE FROM {table} WHERE job_id = ?", [(j,) for j in drop])
    db.commit()
    print(f"mutate_filter: {len(rows) - len(drop)} mutants kept, {len(drop)} dropped")


if __name__ == "__main__":
    main(*sys.argv[1:4])
