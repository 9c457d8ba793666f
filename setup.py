"""Package layout that pyproject.toml cannot express on its own.

The repository keeps the batch pipelines in the top-level ``pipelines/`` folder and
the atlas data in ``atlases/`` (so a methods developer finds and copies them easily);
installed, they become ``neurokit.pipelines`` and ``neurokit._bundled_atlases``.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["neurokit", "neurokit.*"])
packages += ["neurokit.pipelines", "neurokit._bundled_atlases"]

setup(
    packages=packages,
    # the console script's launcher: it checks, without importing neurokit, that the importable
    # neurokit is this distribution's and not the unrelated package of the same name
    py_modules=["neurokit_fc"],
    package_dir={
        "neurokit.pipelines": "pipelines",
        "neurokit._bundled_atlases": "atlases",
    },
    package_data={
        "neurokit._bundled_atlases": ["**/*.json", "**/*.tsv", "**/*.nii.gz", "*.md"],
        "neurokit": ["report/templates/*", "**/*.yaml", "**/*.json", "**/*.tsv"],
    },
    include_package_data=True,
)
