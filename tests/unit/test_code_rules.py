"""Rules the pack's code keeps, read from its source: every node runs through the one checking
decorator, no node types its own id into a message (the decorator names the node), and no function
has a mutable default argument."""
import ast
import re
from pathlib import Path

from rewind.testbed import REPO_ROOT
from rewind.testbed.pack_layout import GLUE_DIR, NODES_DIR, pack_modules

NODE_MODULES = sorted((REPO_ROOT / NODES_DIR).glob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def node_ids() -> set[str]:
    return {keyword.value.value for path in NODE_MODULES for node in ast.walk(parsed(path)) if isinstance(node, ast.Call)
            for keyword in node.keywords if keyword.arg == "node_id" and isinstance(keyword.value, ast.Constant)}


def string_pieces(tree: ast.Module) -> list[str]:
    """Every string literal, f-strings' literal parts included."""
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_every_node_execute_goes_through_the_checking_decorator():
    executes = [(path.name, cls.name, [ast.unparse(d) for d in method.decorator_list])
                for path in NODE_MODULES for cls in ast.walk(parsed(path)) if isinstance(cls, ast.ClassDef)
                for method in cls.body if isinstance(method, ast.FunctionDef) and method.name == "execute"]
    assert len(executes) == len(node_ids()) > 15
    assert [entry for entry in executes if entry[2] != ["classmethod", "checked"]] == []


def test_no_node_or_glue_module_types_a_node_id_into_a_message():
    """`checked` puts the node id (from the schema) in front of every error; a typed one would be a second path."""
    ids = node_ids()
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, ids))})\s*:")
    typed = [(path.relative_to(REPO_ROOT).as_posix(), piece) for folder in (NODES_DIR, GLUE_DIR)
             for path in sorted((REPO_ROOT / folder).glob("*.py")) for piece in string_pieces(parsed(path))
             if pattern.search(piece)]
    assert ids and typed == []


def test_no_function_has_a_mutable_default_argument():
    mutable = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    found = [(path.relative_to(REPO_ROOT).as_posix(), function.name) for path in pack_modules()
             for function in ast.walk(parsed(path)) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
             for default in [*function.args.defaults, *function.args.kw_defaults]
             if isinstance(default, mutable) or (isinstance(default, ast.Call) and ast.unparse(default.func) in ("list", "dict", "set"))]
    assert found == []


def test_tests_and_benches_share_code_only_through_testbed():
    """No test module imports another test module or a bench, no bench imports a test, and testbed
    imports neither: what two of them need lives in testbed/ (a tier can then run, or move, alone)."""
    def imported(path):
        return {node.module for node in ast.walk(parsed(path)) if isinstance(node, ast.ImportFrom) and node.module} | {
            alias.name for node in ast.walk(parsed(path)) if isinstance(node, ast.Import) for alias in node.names}

    forbidden = {"tests": ("rewind.tests", "rewind.bench"), "bench": ("rewind.tests",),
                 "testbed": ("rewind.tests", "rewind.bench")}
    offenders = [f"{path.relative_to(REPO_ROOT)}: {module}" for folder, prefixes in forbidden.items()
                 for path in (REPO_ROOT / folder).rglob("*.py") for module in imported(path)
                 if module.startswith(prefixes)]
    assert offenders == []
