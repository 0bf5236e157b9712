"""The toolchain floor: a too-old or missing module is refused at start-up, plainly."""

from bindmatrix import toolchain


def test_this_machine_meets_the_floor():
    assert toolchain.problems() == []


def test_old_and_missing_modules_are_named():
    versions = {"pytest": (6, 2), "jsonschema": (3, 2), "fastjsonschema": None,
                "yaml": (6, 0), "jinja2": (3, 1)}
    found = toolchain.problems(version=versions.get)
    assert any(p.startswith("pytest 6.2 is too old") and "7.0 or later" in p for p in found)
    assert any(p.startswith("jsonschema 3.2 is too old") for p in found)
    assert any(p.startswith("fastjsonschema is missing") and "python3-fastjsonschema" in p
               for p in found)
    assert len(found) == 3
