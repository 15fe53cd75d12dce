"""Nothing outside topograph/kinds/ names a kind of landscape: the workflow, the report, evaluate and config ask the
kind (topograph.kinds). A name in a string there (`"result"`, `"landscapes/hessian/"`, `"train_1-3"`, ...) is a
kind hard-coded where a new kind would not be seen; the few strings that spell a kind's name with another meaning
are listed below, each with its reason."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from topograph import kinds

ROOT = Path(__file__).resolve().parents[1]
NAMES = "|".join(map(re.escape, kinds.KINDS))
# a kind's name as a whole string, a path segment (landscapes/result/...), a config field (landscapes.result) or the
# prefix of its landscapes' names (f"train_{first}-..."); not as a word of prose ("the result landscape")
NAMED = re.compile(rf"^(?:{NAMES})_?$|(?:^|/)(?:{NAMES})(?:/|$)|\blandscapes\.(?:{NAMES})\b")
RUN_KEYS = {"train"}  # run keys spelled like a kind: the `train:` block of a run that topograph trains
OTHER_MEANINGS = {  # (file, string): why it is no kind's name
    ("src/topograph/zoo.py", "train"): "the digits dataset's split, data_args {split: train} in users' configs",
}


def named(text: str) -> bool:
    return bool(NAMED.search(text) or re.fullmatch(kinds.NAME_PATTERN, text))


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstrings' nodes: prose, which may name kinds."""
    nodes = [node for node in ast.walk(tree)
             if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return {id(node.body[0].value) for node in nodes if node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def run_keys(tree: ast.AST) -> set[int]:
    """The ids of strings used as a run's key spelled like a kind: run["train"], "train" in run."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            found.add(id(node.slice))
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) \
                and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            found.add(id(node.left))
    return found


def python_names(path: Path, where: str | None = None) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    prose, keys = docstrings(tree), run_keys(tree)
    where = where or path.relative_to(ROOT).as_posix()
    return [f"{where}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
            and named(node.value) and not (node.value in RUN_KEYS and id(node) in keys)
            and (where, node.value) not in OTHER_MEANINGS]


STRING = re.compile(r"""(?P<quote>["'])(?P<text>[^"'\n]*)(?P=quote)""")
KEY_TUPLE = re.compile(r"^\w+_KEYS = \(")  # the run keys a rule's params take, e.g. TRAIN_KEYS


def snakemake_names(path: Path, where: str | None = None) -> list[str]:
    """Strings in a rule file's lines (not its comments, nor its docstrings, which are prose)."""
    where, found, prose = where or path.relative_to(ROOT).as_posix(), [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if code.count('"""') == 1:
            prose = not prose
            continue
        if prose or '"""' in code:
            continue
        for match in STRING.finditer(code):
            text = match["text"]
            if named(text) and not (text in RUN_KEYS and KEY_TUPLE.match(code)):
                found.append(f"{where}:{number}: {text!r}")
    return found


def sources():
    kinds_dir = ROOT / "src" / "topograph" / "kinds"
    python = [p for p in (ROOT / "src" / "topograph").rglob("*.py") if kinds_dir not in p.parents]
    python += sorted((ROOT / "workflow").rglob("*.py"))
    rules = [ROOT / "Snakefile", *sorted((ROOT / "workflow").rglob("*.smk"))]
    return sorted(python), rules


def test_no_kind_is_named_outside_its_module():
    python, rules = sources()
    found = [hit for path in python for hit in python_names(path)]
    found += [hit for path in rules for hit in snakemake_names(path)]
    assert not found, "kinds named outside topograph/kinds/ (ask the kind instead):\n" + "\n".join(found)


def test_the_scan_sees_what_it_looks_for(tmp_path):
    """The scan is not blind: each way of naming a kind is found, and the run's train: block and prose are not."""
    code = tmp_path / "code.py"
    code.write_text('"""The result landscape."""\n'
                    'A = "result"\nB = f"results/{run}/landscapes/hessian/surface.zarr"\nC = "train_1-3"\n'
                    'D = f"shared_{x}"\nE = "set landscapes.plane3 to false"\nF = run["train"]\nG = "train" in run\n'
                    'H = "the result landscape"\nI = "train_loss"\nJ = ["interpolate"]\nK = {"result": 1}\n')
    hits = [hit.split(": ", 1)[1] for hit in python_names(code, "code.py")]
    assert sorted(hits) == sorted(["'result'", "'/landscapes/hessian/surface.zarr'", "'train_1-3'", "'shared_'",
                                   "'set landscapes.plane3 to false'", "'interpolate'", "'result'"]), hits
    rules = tmp_path / "rules.smk"
    rules.write_text('TRAIN_KEYS = ("model", "train")\nKINDS = ("train", "shared")\n# "result"\nrule train:\n'
                     '    """The plane3 rule."""\n    output: "results/{run}/landscapes/result/surface.zarr"\n')
    hits = [hit.split(": ", 1)[1] for hit in snakemake_names(rules, "rules.smk")]
    assert hits == ["'train'", "'shared'", "'results/{run}/landscapes/result/surface.zarr'"], hits
