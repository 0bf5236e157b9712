"""YAML files the harness reads (expectations, claims, allowlists, summary tables), with the
line of every mapping and key, so each problem names file:line.

Refused with InputError, never a traceback: unreadable files, files over MAX_BYTES, text
that is not UTF-8, YAML syntax errors, duplicate keys, non-scalar keys, nesting deeper than
MAX_DEPTH, and more than one YAML document.
"""

import re

import yaml

from . import readfile

MAX_BYTES = 4 << 20      # an expectation file is a few KiB; 4 MiB is far past any real one
MAX_DEPTH = 64


class InputError(Exception):
    """One or more problems in input files; .problems is a list of 'file:line: ...'."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def field_problem(path, line, where, message):
    """The one form of a problem in an input file: 'file:line: field 'a.b': message'."""
    return "%s:%d: field '%s': %s" % (path, line, where, message)


class LineDict(dict):
    """A mapping that remembers its own line and each key's line (1-based)."""
    line = 0
    key_lines = None

    def line_of(self, key):
        return (self.key_lines or {}).get(key, self.line)


# libyaml's parser where PyYAML was built with it (Debian's is): ten times the pure-Python one
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """SafeLoader recording lines; booleans are only true/false (YAML 1.2), so an axis
    value such as `on`, `no` or `off` stays the string it is in the case file."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _depth_check(node, mark_depth=0):
    """Iterative, so a hostile nesting cannot exhaust Python's recursion limit."""
    stack = [(node, 1)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise yaml.constructor.ConstructorError(
                None, None, "nested deeper than %d levels" % MAX_DEPTH, n.start_mark)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, depth + 1) for v in n.value)


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain name", key_node.start_mark)
        key = loader.construct_object(key_node, deep=True)
        if key is None or isinstance(key, float):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain name", key_node.start_mark)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicate key %r" % (key,), key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_text(path, max_bytes=MAX_BYTES):
    """The file as text, or InputError (unreadable, not a regular file, too large, not
    UTF-8: readfile.read)."""
    try:
        data = readfile.read(path, max_bytes, "YAML file")
    except readfile.Unreadable as e:
        raise InputError(["%s: %s" % (path, e)]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise InputError(["%s:%d: not UTF-8 (%s)" % (path, line, e.reason)]) from None


def _depth_events(text):
    """Refuse deep nesting from the event stream, before any node tree is composed: the
    composer recurses per level (in C with libyaml) and a hostile file would overflow the
    stack."""
    depth = 0
    for ev in yaml.parse(text, Loader=_Base):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, "nested deeper than %d levels" % MAX_DEPTH, ev.start_mark)
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def load_yaml(path):
    """Parse one YAML document with line-numbered mappings; every problem -> InputError."""
    text = read_text(path)
    try:
        _depth_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _depth_check(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = " ".join(x for x in (e.context, e.problem) if x)
        if "expected a single document" in what:
            what = "a second YAML document (---): one document per file"
        hint = ""
        if "block scalar" in what or "expected <block end>" in what:
            hint = ' (a value starting with > or < must be quoted: kernel: ">=4.6")'
        raise InputError(["%s:%d: YAML: %s%s" % (path, line, what, hint)]) from None
    except (yaml.YAMLError, RecursionError, ValueError) as e:
        raise InputError(["%s: YAML: %s" % (path, e)]) from None


def kind_of(v):
    return {dict: "a mapping", LineDict: "a mapping", list: "a list",
            type(None): "nothing"}.get(type(v), type(v).__name__)
