"""ci/macos-compile-check uses a CMake configuration again only while everything that
configuration read is unchanged (configure_inputs)."""

import importlib.machinery
import importlib.util
import os

from fixturekit import REPO


def _check_module():
    path = os.path.join(REPO, "ci", "macos-compile-check")
    loader = importlib.machinery.SourceFileLoader("macos_compile_check", path)
    spec = importlib.util.spec_from_loader("macos_compile_check", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_configuration_is_reused_only_with_the_same_inputs(tmp_path, monkeypatch):
    check = _check_module()
    top, work = tmp_path / "top", tmp_path / "work"
    (top / "runner").mkdir(parents=True)
    (top / "CMakeLists.txt").write_text("project(x C)\n")
    (top / "runner" / "config.h.in").write_text("#cmakedefine HAVE_X\n")
    (top / "runner" / "a.c").write_text("int a;\n")
    for d in ("include", "pkgconfig"):
        (work / d).mkdir(parents=True)
    (work / "include" / "yaml.h").write_text("/* 0.2.5 */\n")
    (work / "pkgconfig" / "yaml-0.1.pc").write_text("Cflags: -I/x\n")
    tc = tmp_path / "toolchain.cmake"
    tc.write_text("set(CMAKE_SYSTEM_NAME Darwin)\n")
    monkeypatch.setattr(check, "TOP", str(top))

    def inputs(version="0.11.0"):
        return check.configure_inputs(str(work), str(tc), version)
    first = inputs()
    assert inputs() == first                                    # nothing changed
    changes = [
        lambda: (top / "CMakeLists.txt").write_text("project(x C)\nadd_library(y)\n"),
        lambda: (top / "runner" / "config.h.in").write_text("#cmakedefine HAVE_Y\n"),
        lambda: (top / "runner" / "b.c").write_text("int b;\n"),   # the glob finds more
        lambda: (work / "include" / "yaml.h").write_text("/* 0.2.6 */\n"),
        lambda: (work / "pkgconfig" / "jansson.pc").write_text("Cflags: -I/y\n"),
        lambda: tc.write_text("set(CMAKE_SYSTEM_NAME Darwin)\nset(CMAKE_C_COMPILER z)\n"),
    ]
    seen = {first}
    for change in changes:
        change()
        now = inputs()
        assert now not in seen, change
        seen.add(now)
    assert inputs("0.12.0") not in seen                         # another zig
