"""neurokit imports the same way installed or from a source checkout."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import neurokit, neurokit.pipelines.participant as p;"
    "from neurokit.atlases import bundled_root, load;"
    "print(p.run_participant.__module__, sorted(x.name for x in bundled_root().iterdir() if x.is_dir() and not x.name.startswith(\"_\"))[:2],"
    " load('pfclimbic-spheres').n_regions)"
)


def _probe(cwd):
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_pipelines_and_atlases_import_from_the_checkout():
    # python -c puts the working directory first on sys.path: the source tree is imported,
    # as it is for `python -m neurokit` or dask workers started inside a checkout
    assert _probe(ROOT) == "neurokit.pipelines.participant ['dosenbach2010', 'pfclimbic'] 25"


def test_pipelines_and_atlases_import_when_installed(tmp_path):
    assert _probe(tmp_path) == "neurokit.pipelines.participant ['dosenbach2010', 'pfclimbic'] 25"


def test_checkout_pipelines_win_over_another_installs_finder(tmp_path):
    # an editable install registers a finder at start-up (setuptools appends it to sys.meta_path);
    # one for another checkout must not hand this checkout's neurokit its pipelines
    probe = (
        "import sys, importlib.machinery as m\n"
        "class Other:\n"
        "    @classmethod\n"
        "    def find_spec(cls, name, path=None, target=None):\n"
        "        if name == 'neurokit.pipelines':\n"
        "            return m.PathFinder.find_spec('pipelines', [sys.argv[1]])\n"
        "sys.meta_path.append(Other)\n"
        "import neurokit.pipelines\n"
        "print(neurokit.pipelines.__file__)\n"
    )
    other = tmp_path / "other-checkout"
    (other / "pipelines").mkdir(parents=True)
    (other / "pipelines" / "__init__.py").write_text("")
    done = subprocess.run([sys.executable, "-c", probe, str(other)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == ROOT / "pipelines" / "__init__.py"
