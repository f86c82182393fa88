"""Every logger a module of the app logs to is under ``qtable``, the one logger the app gives
a handler (app.core.logging): a line logged anywhere else would be dropped."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _module_loggers(tree: ast.Module) -> list[tuple[int, object]]:
    """``name = logging.getLogger(x)`` at a module's top level: (line, x)."""
    found = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr == "getLogger"
        ):
            argument = value.args[0] if value.args else None
            found.append(
                (node.lineno, argument.value if isinstance(argument, ast.Constant) else argument)
            )
    return found


def test_every_module_logger_of_the_app_is_a_qtable_logger() -> None:
    loggers = {
        f"{path.relative_to(APP.parent)}:{line}": name
        for path in APP.rglob("*.py")
        for line, name in _module_loggers(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert len(loggers) >= 5
    outside = {
        where: name
        for where, name in loggers.items()
        if not (isinstance(name, str) and (name == "qtable" or name.startswith("qtable.")))
    }
    assert outside == {}
