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


# --- the unrelated 'neurokit' distribution (2017) shares our top-level folder -------------------------

FOREIGN_FIX = ("Uninstall both and reinstall this one: `pip uninstall -y neurokit neurokit-fc && pip install "
               "neurokit-fc` (or `pip install .` in a neurokit checkout), or use a fresh virtual environment.")


def _foreign_site(tmp_path, *, package: bool, metadata: bool):
    """A site folder holding what `pip install neurokit` would: its neurokit/ and/or its metadata."""
    site = tmp_path / "site"
    site.mkdir()
    if package:  # its first line imports a dependency of its own: the confusing error users would see
        (site / "neurokit").mkdir()
        (site / "neurokit" / "__init__.py").write_text("import bioread_of_the_other_package\n")
    if metadata:
        dist = site / "neurokit-0.2.10.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: neurokit\nVersion: 0.2.10\n"
                                       "Summary: A Python Toolbox for Statistics and Neurophysiological Signal "
                                       "Processing (EEG, EDA, ECG, EMG...).\n")
        (dist / "top_level.txt").write_text("neurokit\n")
    return site


def _run(code, site, cwd):
    import os

    env = {**os.environ, "PYTHONPATH": str(site)}  # before site-packages, as a later install would be
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


LAUNCH = "import sys, neurokit_fc; sys.exit(neurokit_fc.main(['--version']))"


def test_the_console_script_is_the_checking_launcher():
    import importlib.metadata

    scripts = {e.name: e.value for e in importlib.metadata.distribution("neurokit-fc").entry_points
               if e.group == "console_scripts"}
    assert scripts == {"neurokit": "neurokit_fc:main"}


def test_foreign_neurokit_installed_over_ours_is_named_not_an_import_error(tmp_path):
    site = _foreign_site(tmp_path, package=True, metadata=True)
    done = _run(LAUNCH, site, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (
        "neurokit: error: another distribution named 'neurokit' (0.2.10: A Python Toolbox for Statistics and "
        f"Neurophysiological Signal Processing (EEG, EDA, ECG, EMG...).) is installed in {site}. It is not this "
        "neurokit (distributed as neurokit-fc), and its top-level neurokit/ folder is the same as this one's, so "
        f"each overwrites the other's files. {FOREIGN_FIX}\n")


def test_a_foreign_neurokit_folder_without_metadata_is_named(tmp_path):
    site = _foreign_site(tmp_path, package=True, metadata=False)
    done = _run(LAUNCH, site, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (f"neurokit: error: the neurokit package Python imports ({site / 'neurokit'}) is not this "
                           f"neurokit (neurokit-fc): it has no neurokit/cli/. {FOREIGN_FIX}\n")


def test_import_neurokit_warns_when_the_foreign_distribution_shares_the_folder(tmp_path):
    """Ours was installed last (its files won): it works, but the environment is broken for the next uninstall."""
    site = _foreign_site(tmp_path, package=False, metadata=True)
    done = _run("import neurokit; print(neurokit.__version__)", site, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning: another distribution named 'neurokit' (0.2.10" in done.stderr
    assert FOREIGN_FIX in done.stderr
    assert _run(LAUNCH, site, tmp_path).returncode == 2


def test_launcher_runs_the_command_line_when_neurokit_is_ours(tmp_path):
    done = _run(LAUNCH, tmp_path, tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("neurokit ") and done.stderr == ""
