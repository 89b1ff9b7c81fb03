"""The mutation catalogue still applies to the code: every mutant's target piece exists exactly where it
says, and the mutant changes the program (not only its layout). Fast; keeps the catalogue from rotting."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("nautilus_mutation", ROOT / "scripts" / "mutation.py")
mutation = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = mutation  # dataclasses resolve their module by name
_spec.loader.exec_module(mutation)
AREAS, MUTANTS = mutation.load()


def test_catalogue_when_checked_then_every_mutant_applies_and_every_area_has_tests() -> None:
    assert mutation.check(AREAS, MUTANTS) == []


@pytest.mark.parametrize("m", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_when_applied_then_the_program_changes(m) -> None:  # noqa: ANN001
    text = (ROOT / m.file).read_text()
    new, line = mutation.mutated(m, text)
    assert ast.dump(ast.parse(new)) != ast.dump(ast.parse(text))
    assert m.find in text.splitlines()[line - 1]


def test_catalogue_when_areas_listed_then_trading_core_marked_and_each_area_has_mutants() -> None:
    assert {a for a, v in AREAS.items() if v.get("core")} == {"pre_trade", "positions", "order_state"}
    assert {m.area for m in MUTANTS} == set(AREAS)


def test_check_when_target_line_gone_or_ambiguous_then_reported(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1\ny = x + 1\ny = x + 1\n")
    (tmp_path / "t").mkdir()
    areas = {"a": {"title": "A", "tests": ["t"]}}
    gone = mutation.Mutant("gone", "a", "m.py", "z = 2", "z = 3", "bug")
    twice = mutation.Mutant("twice", "a", "m.py", "y = x + 1", "y = x - 1", "bug")
    second = mutation.Mutant("second", "a", "m.py", "y = x + 1", "y = x - 1", "bug", nth=2)
    problems = mutation.check(areas, [gone, twice, second], root=tmp_path)
    assert len(problems) == 2 and "gone" in problems[0] and "occurs 2 times" in problems[1]
    assert mutation.mutated(second, (tmp_path / "m.py").read_text()) == ("x = 1\ny = x + 1\ny = x - 1\n", 3)
