"""The derivative dataset passes the BIDS validator (``bids-validator-deno``, offline), and its
provenance is given as BIDS URIs that resolve to the inputs."""

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neurokit.config import Config
from neurokit.io import BIDSIGNORE, check_derivative_names, run_bids_validator

pytestmark = pytest.mark.slow


def _validator() -> str | None:
    beside = Path(sys.executable).parent / "bids-validator-deno"
    return str(beside) if beside.is_file() else shutil.which("bids-validator-deno")


VALIDATOR = _validator()
needs_validator = pytest.mark.skipif(VALIDATOR is None, reason="bids-validator-deno is not installed (test extras)")


def _issues(dataset: Path) -> list[dict]:
    """Every issue the validator reports on ``dataset`` (code, severity, location)."""
    done = subprocess.run([VALIDATOR, "--format", "json", str(dataset)], capture_output=True, text=True, timeout=600)
    try:
        return json.loads(done.stdout)["issues"]["issues"]
    except (ValueError, KeyError) as exc:
        raise AssertionError(f"the validator gave no JSON report (exit {done.returncode}): {done.stderr[-2000:]}") from exc


def _errors(dataset: Path) -> list[tuple[str, str]]:
    return [(i["code"], i.get("location", "")) for i in _issues(dataset) if i["severity"] == "error"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The smallest study with every file the demo writes: participant and group levels, several
    strategies and measures, a failed run, a run without fMRIPrep's reference image, reports."""
    from distributed import Client, LocalCluster

    from neurokit.pipelines.study import run_study
    from neurokit.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("bidsvalid")
    bids, out = root / "bids", root / "derivatives"
    simulate_dataset(bids, n_subjects=8, n_volumes=60, seed=3, broken_runs=("corrupt_gzip",))
    # without fMRIPrep's reference the run's mean image is written (desc-mean_boldref)
    sorted(bids.rglob("sub-02_*_boldref.nii.gz"))[0].unlink()
    config = Config().updated({
        "denoise.min_volumes": 30, "exclusion.min_tdof": 10, "denoise.strategy": ["scrubbing+gsr", "simple+gsr"],
        "models.targets": ["severity"], "models.cv_folds": 2, "models.cv_repeats": 1, "models.n_permutations": 2,
    })
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            code = run_study(bids, out, config, client=client, progress=False)
    assert code == 1  # the planted broken run failed, the rest went through
    return root, bids, out


def test_study_output_covers_every_file_type(study):
    _, _, out = study
    for pattern in ("sub-*/func/*_seg-*_desc-raw_timeseries.tsv", "sub-*/func/*_desc-scrubbingGsr_timeseries.json",
                    "sub-*/func/*_meas-correlation_desc-simpleGsr_relmat.tsv", "sub-*/func/*_desc-qc_metrics.json",
                    "sub-*/func/*_desc-physio_metrics.tsv", "sub-*/func/*_desc-physio_metrics.json",
                    "sub-02/func/*_desc-mean_boldref.nii.gz", "atlas-pfclimbic_dseg.tsv", "atlas-pfclimbic_dseg.json",
                    "atlas-pfclimbic_description.json", "README.md", ".bidsignore", "failures.tsv", "config.yaml",
                    "logs/runs/*.json", "sub-*.html", "group/group.html", "group/features.tsv"):
        assert list(out.glob(pattern)), f"no {pattern} in the study output"


@needs_validator
def test_validator_reports_no_error(study):
    _, _, out = study
    assert _errors(out) == []


@needs_validator
def test_validator_finds_a_sidecar_without_its_data_file(study, tmp_path):
    # the check above can fail: a stray sidecar in a copy of the dataset is an error
    _, _, out = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("*.nii.gz", "group", "*.html"))
    (copy / "sub-01" / "func" / "sub-01_task-rest_desc-stray_bold.json").write_text("{}")
    assert ("SIDECAR_WITHOUT_DATAFILE", "/sub-01/func/sub-01_task-rest_desc-stray_bold.json") in _errors(copy)


@needs_validator
def test_validator_and_naming_check_together_cover_every_file(study):
    # what the validator does not see, neurokit's own check of docs/outputs.md does; nothing is unchecked
    _, _, out = study
    report = run_bids_validator(out)
    names = check_derivative_names(out)
    every = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert report["errors"] == [] and [str(f) for f in names.findings] == []
    assert report["files"] == len(names.for_validator)  # the validator saw what the check left to it, no more
    assert set(names.checked) | set(names.for_validator) == every
    assert len(names.checked) + report["files"] == len(every)
    for pattern in ("sub-*/func/*_relmat.tsv", "sub-*/func/*_desc-qc_metrics.json", "sub-*/func/*_desc-physio_metrics.tsv",
                    "logs/runs/*.json",
                    "group/models/*/*/metrics.json", "sub-*.html"):
        assert {p.relative_to(out).as_posix() for p in out.glob(pattern)} <= set(names.checked), pattern


def test_naming_check_finds_a_misnamed_file_in_the_study(study, tmp_path):
    _, _, out = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("*.nii.gz", "*.html"))
    relmat = sorted(copy.glob("sub-01/func/*_meas-correlation_desc-simpleGsr_relmat.tsv"))[0]
    relmat.rename(relmat.with_name(relmat.name.replace("meas-correlation_desc-simpleGsr", "desc-simpleGsr_meas-correlation")))
    paths = {f.path for f in check_derivative_names(copy).findings}
    renamed = relmat.with_name(relmat.name.replace("meas-correlation_desc-simpleGsr", "desc-simpleGsr_meas-correlation"))
    # the renamed matrix is out of order, and its sidecar has lost its data file
    assert paths == {renamed.relative_to(copy).as_posix(), relmat.with_suffix(".json").relative_to(copy).as_posix()}


def test_every_bidsignore_pattern_is_used(study):
    # no entry hides more than it must: each names files the pipeline writes
    _, _, out = study
    assert (out / ".bidsignore").read_text() == BIDSIGNORE
    names = [p.name for p in out.rglob("*")]
    for pattern in [line for line in BIDSIGNORE.splitlines() if line and not line.startswith("#")]:
        if pattern.startswith("/"):  # anchored at the dataset root
            assert list(out.glob(pattern[1:])), pattern
        else:
            assert any(fnmatch.fnmatch(name, pattern) for name in names), pattern


def test_sources_are_bids_uris_that_resolve_to_the_inputs(study):
    root, bids, out = study
    description = json.loads((out / "dataset_description.json").read_text())
    links = description["DatasetLinks"]
    assert links == {"raw": "../bids", "fmriprep": "../bids/derivatives/fmriprep"}
    assert description["SourceDatasets"] == [{"URL": "bids:raw:"}, {"URL": "bids:fmriprep:"}]
    sidecars = sorted(out.glob("sub-*/func/*.json"))
    assert sidecars
    for path in sidecars:
        text = path.read_text()
        assert str(root) not in text and os.path.abspath(root) not in text, f"{path.name} holds a machine path"
        meta = json.loads(text)
        uris = list(meta.get("Sources", [])) + [meta[k] for k in ("ReferenceImage",) if meta.get(k)]
        if not path.name.endswith("_metrics.json"):
            assert len(meta["Sources"]) == 3, path.name
        for uri in uris:
            scheme, name, rel = uri.split(":", 2)
            assert scheme == "bids" and name in links, uri
            assert (out / links[name] / rel).is_file(), uri
    qc = json.loads(sorted(out.glob("sub-01/func/*_desc-qc_metrics.json"))[0].read_text())
    assert qc["ReferenceImage"].startswith("bids:fmriprep:sub-01/func/") and qc["ReferenceImage"].endswith("_boldref.nii.gz")
    assert str(root) not in (out / "dataset_description.json").read_text()
