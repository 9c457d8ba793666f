"""pipelines/hpc: the batch script is valid shell and the Apptainer recipe copies what pip needs."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HPC = ROOT / "pipelines" / "hpc"


def _sections(text: str) -> dict[str, list[str]]:
    sections, current = {}, None
    for line in text.splitlines():
        match = re.match(r"^%(\w+)", line)
        if match:
            current = sections.setdefault(match.group(1), [])
        elif current is not None and line.strip() and not line.lstrip().startswith("#"):
            current.append(line.strip())
    return sections


def test_apptainer_recipe_copies_the_installable_tree():
    text = (HPC / "neurokit.def").read_text()
    assert re.search(r"^Bootstrap: docker\nFrom: python:3\.\d+-slim", text, re.M)
    sections = _sections(text)
    sources = [line.split()[0] for line in sections["files"]]
    # everything `pip install .` reads: the build files and each folder setup.py maps to a package
    assert {"pyproject.toml", "setup.py", "README.md", "neurokit", "pipelines", "atlases"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"neurokit.def copies {source}, which is not in the repository"
    setup = (ROOT / "setup.py").read_text()
    for folder in re.findall(r'"neurokit\.[\w.]+": "(\w+)"', setup):
        assert folder in sources, f"setup.py installs {folder}/ but neurokit.def does not copy it"
    modules = re.findall(r'"(\w+)"', re.search(r"py_modules=\[([^\]]*)\]", setup).group(1))
    assert modules == ["neurokit_fc"]  # the console script's launcher
    for module in modules:
        assert f"{module}.py" in sources, f"setup.py installs {module}.py but neurokit.def does not copy it"
    assert any("pip install /opt/neurokit/src" in line for line in sections["post"])
    assert sections["runscript"] == ['exec neurokit "$@"']


def test_study_batch_script_is_valid_shell_with_directives():
    script = HPC / "run_study.sbatch"
    if shutil.which("bash") is None:  # pragma: no cover
        pytest.skip("bash is not installed")
    subprocess.run(["bash", "-n", str(script)], check=True)
    directives = [line for line in script.read_text().splitlines() if line.startswith("#SBATCH")]
    assert {d.split("=")[0] for d in directives} >= {
        "#SBATCH --nodes", "#SBATCH --ntasks-per-node", "#SBATCH --mem-per-cpu", "#SBATCH --time"
    }
    text = script.read_text()
    assert "--scheduler-file" in text and " participant " in text and " group " in text
