"""Issue 16 item 1: a button's clicked(bool) / an action's triggered(bool) must never reach a slot whose
first parameter means something else (a name, a path): PySide passes the flag to any slot that takes one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import lora_studio.app

APP = Path(lora_studio.app.__file__).parent
# emitters whose clicked/triggered signal does carry the slot's argument
CARRIES_ARGUMENT = {
    "theme_actions",
    "table",
}  # QActionGroup.triggered(QAction), QTableView.clicked(QModelIndex)
CONNECT = re.compile(r"self\.(\w+)\.(?:clicked|triggered)\.connect\(\s*self\.(\w+)\s*\)")


def _methods_by_class(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    methods: dict[str, ast.FunctionDef] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef):
                methods[fn.name] = fn
    return methods


def test_no_button_flag_reaches_a_slot_with_parameters():
    bad = []
    for path in APP.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        methods = _methods_by_class(ast.parse(source))
        for match in CONNECT.finditer(source):
            fn = methods.get(match.group(2))
            if fn is None or match.group(1) in CARRIES_ARGUMENT:
                continue
            params = [a.arg for a in fn.args.args[1:]] + ([fn.args.vararg.arg] if fn.args.vararg else [])
            if params:
                bad.append(f"{path.name}: {match.group(0)} -> {fn.name}({', '.join(params)})")
    assert not bad, "\n".join(bad)


def test_the_check_finds_the_bug_class(tmp_path):
    source = (
        "class W:\n"
        "    def __init__(self):\n"
        "        self.add_button.clicked.connect(self.new_concept)\n"
        "    def new_concept(self, name=''):\n"
        "        pass\n"
    )
    methods = _methods_by_class(ast.parse(source))
    match = CONNECT.search(source)
    assert match is not None and [a.arg for a in methods[match.group(2)].args.args[1:]] == ["name"]
