"""No reader in geognn can unpickle code: a source scan that fails when an unsafe load creeps in.

Every ``torch.load`` in the package must pass ``weights_only=True`` (the one
exception is ``geognn checkpoint upgrade --trust``, which the user asks for
explicitly); ``numpy.load`` must pass ``allow_pickle=False``; ``pickle``,
``dill``, ``joblib`` and ``pandas.read_pickle`` must not read anything.
"""

import ast
from pathlib import Path

import geognn

PACKAGE = Path(geognn.__file__).resolve().parent
TRUSTED_ONLY = {("train/checkpoint_upgrade.py", "_read")}


def _calls():
    """(file, innermost enclosing function, call node) for every call in the package."""
    def visit(node, function, file):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                yield file, function, child
            yield from visit(child, inner, file)

    for path in sorted(PACKAGE.rglob("*.py")):
        yield from visit(ast.parse(path.read_text(encoding="utf-8")), "<module>",
                         path.relative_to(PACKAGE).as_posix())


def _name(call):
    return ast.unparse(call.func)


def _keyword(call, name):
    return next((ast.unparse(k.value) for k in call.keywords if k.arg == name), None)


def test_every_torch_load_uses_the_safe_loader():
    bad = []
    for file, function, call in _calls():
        if _name(call) == "torch.load" and _keyword(call, "weights_only") != "True":
            if (file, function) not in TRUSTED_ONLY:
                bad.append(f"{file}:{call.lineno} in {function}")
    assert not bad, f"torch.load without weights_only=True: {bad}"


def test_every_numpy_load_refuses_pickles():
    bad = [f"{file}:{call.lineno}" for file, _, call in _calls()
           if _name(call) in ("np.load", "numpy.load") and _keyword(call, "allow_pickle") != "False"]
    assert not bad, f"numpy.load without allow_pickle=False: {bad}"


def test_nothing_unpickles_with_the_pickle_module_or_its_relatives():
    unsafe = {"pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "dill.loads", "joblib.load",
              "pd.read_pickle", "pandas.read_pickle", "marshal.loads", "shelve.open", "yaml.load"}
    bad = [f"{file}:{call.lineno} {_name(call)}" for file, _, call in _calls() if _name(call) in unsafe]
    assert not bad, bad


def test_the_trusted_exception_is_still_where_the_scan_expects_it():
    # If the upgrade code moves, TRUSTED_ONLY must follow it rather than silently allow nothing.
    found = {(file, function) for file, function, call in _calls()
             if _name(call) == "torch.load" and _keyword(call, "weights_only") == "False"}
    assert found == TRUSTED_ONLY
