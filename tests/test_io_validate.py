"""neurokit's own naming check (docs/outputs.md) of the files the BIDS validator does not see.

The dataset here is written by hand from the names docs/outputs.md gives, not by the pipeline,
so the check is held to the documentation rather than to the writer's code.
"""

import json
from pathlib import Path

import pytest

from neurokit.config import Config
from neurokit.io import BIDSIGNORE, check_derivative_names

RUN = "sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym"
FUNC = "sub-01/ses-1/func"


def _write(root: Path, rel: str, text: str = "{}") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def dataset(tmp_path):
    """A derivative dataset of one run, two strategies, two measures and one model, named as documented."""
    root = tmp_path / "derivatives"
    config = Config().updated({"denoise.strategy": ["scrubbing+gsr", "compcor"],
                               "connectivity.measures": ["correlation", "partial correlation"],
                               "models.targets": ["severity"], "models.feature_sets": ["pfc_limbic_edges"]})
    _write(root, "config.yaml", config.to_yaml())
    _write(root, ".bidsignore", BIDSIGNORE)
    _write(root, "dataset_description.json", json.dumps({"Name": "x", "BIDSVersion": "1.10.0",
                                                         "DatasetType": "derivative"}))
    _write(root, "README.md", "# x\n")
    _write(root, "atlas-pfclimbic_dseg.tsv", "index\tname\n1\tA\n")
    _write(root, "atlas-pfclimbic_dseg.json")
    _write(root, "atlas-pfclimbic_description.json")
    _write(root, "failures.tsv", "run_id\n")
    _write(root, "sub-01.html", "<html></html>")
    for desc in ("raw", "scrubbingGsr", "compcor"):
        for ext in (".tsv", ".json"):
            _write(root, f"{FUNC}/{RUN}_seg-pfclimbic_desc-{desc}_timeseries{ext}")
    for desc in ("scrubbingGsr", "compcor"):
        for meas in ("correlation", "partialCorrelation"):
            for ext in (".tsv", ".json"):
                _write(root, f"{FUNC}/{RUN}_seg-pfclimbic_meas-{meas}_desc-{desc}_relmat{ext}")
    _write(root, f"{FUNC}/{RUN}_desc-qc_metrics.json")
    _write(root, f"{FUNC}/{RUN}_desc-mean_boldref.nii.gz", "")
    _write(root, f"logs/runs/{RUN}.json")
    _write(root, "logs/failed/sub-02_task-rest_space-MNI152NLin2009cAsym.json")
    _write(root, "logs/reports/sub-01.json")
    _write(root, "logs/participant-20261207-230043.log", "")
    for name in ("features.tsv", "features.json", "exclusions.tsv", "confounds.json", "denoising_benchmark.tsv",
                 "denoising_benchmark.json", "group.html", "models/summary.tsv",
                 "models/severity/pfc_limbic_edges/metrics.json", "models/severity/pfc_limbic_edges/predictions.tsv",
                 "models/severity/pfc_limbic_edges/permutation_null.tsv",
                 "models/severity/pfc_limbic_edges/patterns.tsv",
                 "models/severity/pfc_limbic_edges/model/model.joblib",
                 "models/severity/pfc_limbic_edges/model/model.json",
                 "predictions/severity_pfc_limbic_edges.tsv", "predictions/severity_pfc_limbic_edges.json"):
        _write(root, f"group/{name}")
    return root


def _problems(root) -> dict[str, list[str]]:
    found = {}
    for finding in check_derivative_names(root).findings:
        found.setdefault(finding.path, []).append(finding.problem)
    return found


def test_documented_names_pass_and_every_file_is_covered_once(dataset):
    check = check_derivative_names(dataset)
    assert check.findings == []
    every = {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file()}
    assert set(check.checked) | set(check.for_validator) == every
    assert not set(check.checked) & set(check.for_validator)
    # what the schema names is the validator's; nothing else is
    assert sorted(check.for_validator) == ["README.md", "atlas-pfclimbic_description.json", "atlas-pfclimbic_dseg.json",
                                           "atlas-pfclimbic_dseg.tsv", "dataset_description.json"]
    assert check.summary() == f"neurokit's naming rules (docs/outputs.md): {len(every) - 5} files, 0 problems"


def test_misnamed_file(dataset):
    good = dataset / FUNC / f"{RUN}_seg-pfclimbic_desc-compcor_timeseries.tsv"
    bad = dataset / FUNC / f"{RUN}_desc-compcor_seg-pfclimbic_timeseries.tsv"  # entities out of order
    good.rename(bad)
    problems = _problems(dataset)
    assert any("out of order" in p and good.name in p for p in problems[f"{FUNC}/{bad.name}"])


def test_missing_sidecar(dataset):
    (dataset / FUNC / f"{RUN}_seg-pfclimbic_meas-correlation_desc-compcor_relmat.json").unlink()
    problems = _problems(dataset)
    assert problems == {f"{FUNC}/{RUN}_seg-pfclimbic_meas-correlation_desc-compcor_relmat.tsv":
                        ["missing its JSON sidecar"]}


def test_stray_sidecar(dataset):
    (dataset / FUNC / f"{RUN}_seg-pfclimbic_desc-raw_timeseries.tsv").unlink()
    assert _problems(dataset) == {f"{FUNC}/{RUN}_seg-pfclimbic_desc-raw_timeseries.json":
                                  ["a sidecar without its data file (.tsv)"]}


def test_unknown_entity(dataset):
    _write(dataset, f"{FUNC}/{RUN}_seg-pfclimbic_foo-bar_desc-compcor_timeseries.tsv", "")
    _write(dataset, f"{FUNC}/{RUN}_seg-pfclimbic_foo-bar_desc-compcor_timeseries.json")
    problems = _problems(dataset)
    for ext in (".tsv", ".json"):
        assert any("unknown BIDS entity ['foo']" in p
                   for p in problems[f"{FUNC}/{RUN}_seg-pfclimbic_foo-bar_desc-compcor_timeseries{ext}"])


def test_entity_not_documented_for_the_suffix(dataset):
    _write(dataset, f"{FUNC}/{RUN}_seg-pfclimbic_meas-correlation_desc-qc_metrics.json")
    problems = _problems(dataset)[f"{FUNC}/{RUN}_seg-pfclimbic_meas-correlation_desc-qc_metrics.json"]
    assert problems == ["entities ['seg', 'meas'] not allowed in a metrics name (docs/outputs.md)"]


@pytest.mark.parametrize("rel, words", [
    (f"{FUNC}/{RUN}_seg-pfclimbic_desc-simple_timeseries.tsv", "desc-simple is not a configured denoising strategy"),
    (f"{FUNC}/{RUN}_seg-schaefer_desc-compcor_timeseries.tsv", "seg-schaefer has no atlas table"),
    (f"{FUNC}/{RUN}_seg-pfclimbic_meas-precision_desc-compcor_relmat.tsv", "meas-precision is not a configured"),
    (f"{FUNC}/sub-02_ses-1_task-rest_seg-pfclimbic_desc-raw_timeseries.tsv", "sub-02 is in the folder of sub-01"),
    (f"sub-01/func/{RUN}_desc-qc_metrics.json", "the ses- entity and the session folder disagree"),
    (f"sub-01/anat/{RUN}_desc-qc_metrics.json", "belong in sub-<label>/[ses-<label>/]func/"),
    (f"{RUN}_seg-pfclimbic_desc-raw_timeseries.tsv", "not a file docs/outputs.md names at the dataset root"),
    ("group/models/stage/pfc_limbic_edges/metrics.json", "target 'stage' is not a configured target"),
    ("group/models/severity/pfc_limbic_edges/notes.txt", "is not a file of a model's folder"),
    ("group/results.csv", "not a file docs/outputs.md names under group/"),
    ("group/predictions/stage_combined.tsv", "of a configured target and feature set"),
    ("logs/runs/sub-01_run-1_task-rest.json", "out of BIDS order"),
    ("logs/participant.log", "a level's log is logs/"),
    ("sub-1a_b.html", "not a file docs/outputs.md names at the dataset root"),
])
def test_each_rule_can_fail(dataset, rel, words):
    _write(dataset, rel, "{}")
    problems = _problems(dataset)
    assert rel in problems and any(words in p for p in problems[rel]), problems


def test_a_broken_json_file_is_a_finding(dataset):
    _write(dataset, "group/confounds.json", "{not json")
    assert [p[:14] for p in _problems(dataset)["group/confounds.json"]] == ["not valid JSON"]


def test_files_the_validator_sees_are_left_to_it(dataset):
    # not hidden by .bidsignore: a misnamed file there is the validator's (NOT_INCLUDED), not counted twice
    _write(dataset, f"{FUNC}/{RUN}_timeseris.tsv", "")
    check = check_derivative_names(dataset)
    assert f"{FUNC}/{RUN}_timeseris.tsv" in check.for_validator and check.findings == []


def test_without_bidsignore_every_file_is_the_validators_and_that_is_a_finding(dataset):
    (dataset / ".bidsignore").unlink()
    check = check_derivative_names(dataset)
    assert [f.path for f in check.findings] == [".bidsignore"]
    assert check.checked == []


def test_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="derivative dataset"):
        check_derivative_names(tmp_path / "missing")
