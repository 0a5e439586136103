"""`%{ }%` blocks: assertions over a connection's tcpi_* values, never run with `exec`.

packetdrill hands these blocks to a Python interpreter. A script is input, though, and input
must not run code: here a block is parsed with `ast` and only a small subset is evaluated:
`assert` statements (with an optional message) and `print(...)` (its text goes to the
transcript), comparisons, `and`/`or`/`not`, arithmetic,
numbers, strings and the names tcpi_* (the socket's TCP_INFO at the block's time). Anything
else is "unsupported", with the construct named.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
           ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


class CodeUnsupported(Exception):
    """The block uses something outside the subset (the message names it)."""


class CodeError(Exception):
    """Evaluating the block failed (a division by zero, arithmetic on a string)."""


class AssertionFailed(Exception):
    """An assert in the block was false (the message says which and the values)."""


def run_block(source: str, names: Mapping[str, Any]) -> list[str]:
    """Evaluate every statement of the block; AssertionFailed for the first false one.
    Returns what its print() calls printed."""
    try:
        tree = ast.parse(_dedent(source), mode="exec")
    except SyntaxError as exc:
        raise CodeUnsupported(f"Python syntax in %{{ }}% ({exc.msg})") from None
    printed = []
    for statement in tree.body:
        if _is_print(statement):
            call = statement.value  # type: ignore[attr-defined]
            printed.append(" ".join(str(_evaluate(arg, names)) for arg in call.args))
            continue
        if not isinstance(statement, ast.Assert):
            raise CodeUnsupported(f"{type(statement).__name__} statement in %{{ }}% "
                                  "(only assert and print are allowed)")
        if not _evaluate(statement.test, names):
            message = ast.unparse(statement.test)
            detail = _values(statement.test, names)
            if statement.msg is not None:
                detail = f"{detail}; {_evaluate(statement.msg, names)}"
            raise AssertionFailed(f"assert {message} is false ({detail})")
    return printed


def _is_print(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name) and statement.value.func.id == "print"
            and not statement.value.keywords)


def _dedent(source: str) -> str:
    lines = [line.strip() for line in source.replace(";", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def _values(node: ast.AST, names: Mapping[str, Any]) -> str:
    used = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)})
    return ", ".join(f"{name} = {names[name]}" for name in used if name in names) or "no names"


def _evaluate(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise CodeUnsupported(f"name {node.id!r} in %{{ }}% (tcpi_* names only)")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if not all(isinstance(v, (int, float)) for v in (left, right)):
            raise CodeError(f"%{{ }}%: arithmetic on {left!r} and {right!r} (numbers only)")
        try:
            return BINARY[type(node.op)](left, right)
        except ArithmeticError as exc:
            raise CodeError(f"%{{ }}%: {ast.unparse(node)}: {exc}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_evaluate(node.operand, names))
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, names) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in COMPARE for op in node.ops):
        left = _evaluate(node.left, names)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, names)
            if not COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise CodeUnsupported(f"{type(node).__name__} in %{{ }}% "
                          "(assert, comparisons, arithmetic and tcpi_* names only)")
