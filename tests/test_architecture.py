"""The package's shape: modules import only modules below them (no cycles, even inside functions),
and only the apps decide to build."""
import ast
from pathlib import Path

from conftest import PROJECT

BOT = PROJECT / "bot"
APPS = {"__main__"}  # with ui/ and build_index.py, the callers that decide to rebuild


def _runtime_nodes(tree):
    """Every node but those under `if TYPE_CHECKING:` (names for annotations only, never imported)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports() -> dict[str, set[str]]:
    graph = {}
    for path in BOT.glob("*.py"):
        found = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot."):
                found.add(node.module.split(".")[1])
        graph[path.stem] = {m for m in found if (BOT / f"{m}.py").is_file()}
    return graph


def test_no_import_cycles():
    graph = imports()
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " → ".join(trail + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for child in sorted(graph.get(node, ())):
            visit(child, trail + [node])
        state[node] = 2

    for module in sorted(graph):
        visit(module, [])


def test_only_the_apps_import_the_build():
    graph = imports()
    importers = {m for m, deps in graph.items() if "build" in deps}
    assert importers <= APPS, importers


def test_the_entry_point_is_short():
    assert len((BOT / "chatbot.py").read_text(encoding="utf-8").splitlines()) <= 150


def test_settings_change_one_value_by_name_and_refuse_a_name_two_groups_share():
    import pytest

    from bot.settings import Settings

    s = Settings()
    assert s.but(onnx=False).serving.onnx is False and s.serving.onnx is True
    assert s.but(triage__margin=0.03).triage.margin == 0.03 and s.but(triage__margin=0.03).scope.margin == s.scope.margin
    with pytest.raises(TypeError, match="scope and triage"):
        s.but(margin=0.03)
    with pytest.raises(TypeError, match="no value"):
        s.but(no_such_value=1)
