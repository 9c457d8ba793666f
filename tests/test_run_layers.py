"""neurokit.run (one run's computation) keeps to its layer: it builds on the computation and
file layers, never on a pipeline, the models, the reports or the simulator, and nothing below it
imports it (read from the source with ast, no import run)."""

import ast
from pathlib import Path

import neurokit

ROOT = Path(neurokit.__file__).parent
ALLOWED = ("neurokit.config", "neurokit.io", "neurokit.atlases", "neurokit.extract", "neurokit.denoise",
           "neurokit.connectivity", "neurokit.qc", "neurokit.physio", "neurokit.run", "neurokit._atomic",
           "neurokit._errors", "neurokit._nifti", "neurokit._version")
BELOW = ("atlases", "extract", "denoise", "connectivity", "qc", "physio", "io")


def _neurokit_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {n for n in found if n == "neurokit" or n.startswith("neurokit.")}


def _allowed(name: str) -> bool:
    return any(name == a or name.startswith(a + ".") for a in ALLOWED)


def test_run_imports_only_the_layers_above_it():
    files = sorted((ROOT / "run").glob("*.py"))
    assert {p.stem for p in files} >= {"__init__", "_compute", "_strategy", "_stage"}
    offenders = [f"run/{p.name}: {n}" for p in files for n in sorted(_neurokit_imports(p)) if not _allowed(n)]
    assert offenders == []
    # the reading covers the imports inside functions too (compute_run imports its stages lazily)
    assert "neurokit.extract" in _neurokit_imports(ROOT / "run" / "_compute.py")


def test_no_lower_layer_imports_run():
    offenders = [f"{p.relative_to(ROOT)}: {n}" for layer in BELOW for p in (ROOT / layer).rglob("*.py")
                 for n in _neurokit_imports(p) if n == "neurokit.run" or n.startswith("neurokit.run.")]
    assert offenders == []


def test_the_reader_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from neurokit.pipelines.participant import write_run\n    import neurokit.models\n")
    assert {n for n in _neurokit_imports(bad) if not _allowed(n)} == {"neurokit.pipelines.participant",
                                                                        "neurokit.models"}
