"""Phenotype files from labs the project has not seen: their own column names; missing, unreadable or
incomplete files named at both levels."""

import logging
import os
import shutil
from pathlib import Path

import pytest

from neurokit.cli import main
from neurokit.config import ColumnsConfig
from neurokit.io import load_phenotype


def _write(root, text):
    (root / "participants.tsv").write_text(text)
    return root


def test_lab_column_name_without_mapping_gets_a_hint(tmp_path, caplog):
    root = _write(tmp_path, "participant_id\tket_severity\tAge\tstage\nsub-01\t3.5\t30\tactive\nsub-02\t0\t41\tcontrol\n")
    with caplog.at_level(logging.WARNING, logger="neurokit.io"):
        table = load_phenotype(root)
    assert table["severity"].isna().all() and "severity" in table.attrs["missing_roles"]
    hints = table.attrs["role_hints"]
    assert set(hints) == {"severity", "age"}  # 'Age' differs only by case
    assert "'ket_severity'" in hints["severity"] and "columns: {severity: ket_severity}" in hints["severity"]
    assert "participants.tsv" in hints["severity"]
    assert any("ket_severity" in r.getMessage() for r in caplog.records)


def test_mapped_lab_columns_give_no_hint(tmp_path, caplog):
    root = _write(tmp_path, "participant_id\tket_severity\tphase\nsub-01\t3.5\tusing\nsub-02\t0\thc\n")
    columns = ColumnsConfig(severity="ket_severity", stage="phase", stage_levels=("hc", "using"))
    with caplog.at_level(logging.WARNING, logger="neurokit.io"):
        table = load_phenotype(root, columns)
    assert table["severity"].tolist() == [3.5, 0.0]
    assert table["stage"].tolist() == ["using", "hc"]
    assert table.attrs["role_hints"] == {} and not caplog.records



def test_participant_ids_without_leading_zeros_are_pointed_out(tmp_path, caplog):
    from pathlib import Path

    from neurokit.io import Run, phenotype_for_runs

    root = _write(tmp_path, "participant_id\tage\n1\t30\nsub-2\t41\n")  # labs often drop the zeros
    table = load_phenotype(root)
    runs = [Run(entities=(("sub", s), ("task", "rest")), bold=Path("b"), bold_json=None, confounds=Path("c"),
                confounds_json=None, mask=Path("m"), t_r=2.0, n_volumes=10) for s in ("01", "02")]
    with caplog.at_level(logging.WARNING, logger="neurokit.io"):
        matched = phenotype_for_runs(table, runs)
    assert matched.attrs["unmatched_runs"] == ["sub-01_task-rest", "sub-02_task-rest"]
    (record,) = caplog.records
    assert "sub-01 (the table has sub-1), sub-02 (the table has sub-2)" in record.getMessage()
    assert "leading zeros" in record.getMessage()


def test_lab_run_id_column_does_not_clash(tmp_path):
    from pathlib import Path

    from neurokit.io import Run, phenotype_for_runs

    root = _write(tmp_path, "participant_id\trun_id\tage\nsub-01\tR17\t30\n")
    run = Run(entities=(("sub", "01"), ("task", "rest")), bold=Path("b"), bold_json=None, confounds=Path("c"),
              confounds_json=None, mask=Path("m"), t_r=2.0, n_volumes=10)
    matched = phenotype_for_runs(load_phenotype(root), [run])
    assert matched["run_id"].tolist() == ["sub-01_task-rest"]
    assert matched["run_id_phenotype"].tolist() == ["R17"] and matched["age"].tolist() == [30.0]


# --- a missing, unreadable or incomplete phenotype is named at both levels ------------------------------


def _missing(bids: Path) -> str:
    (bids / "participants.tsv").unlink()
    return (f"{bids / 'participants.tsv'} is missing (and there is no sub-*/sub-*_sessions.tsv or phenotype/*.tsv), "
            "so nothing says which participant has which severity or stage. Add it at the BIDS root: "
            "tab-separated, a participant_id column (sub-01, ...) and the column(s) 'severity', 'stage' (n/a where "
            "a value is unknown); 'columns:' in the configuration maps your own column names.")


def _comma_separated(bids: Path) -> str:
    path = bids / "participants.tsv"
    path.write_text(path.read_text().replace("\t", ","))
    head = path.read_text().splitlines()[0]
    return (f"{path} is not tab-separated (its header {head!r} has no tabs); BIDS TSV files separate columns with "
            "tabs: re-save it as tab-separated values.")


def _not_text(bids: Path) -> str:
    path = bids / "participants.tsv"
    path.write_bytes(b"\x1f\x8b\x08\x00 a gzip stream saved under the TSV's name")
    return (f"{path} cannot be read: it is not UTF-8 text (byte 1 is b'\\x8b'); save it as UTF-8 tab-separated "
            "text (e.g. a spreadsheet's 'Text (tab-delimited)' with UTF-8 encoding).")


def _broken_link(bids: Path) -> str:
    path = bids / "participants.tsv"
    path.unlink()
    target = "../.git/annex/objects/participants.tsv"  # a DataLad dataset whose content was never fetched
    os.symlink(target, path)
    return (f"{path} cannot be read: it is a symbolic link to {target}, which does not exist; fetch the file (e.g. "
            "`datalad get` or `git annex get`) or replace the link with the file itself.")


def _garbled_sessions(bids: Path) -> str:
    path = next(bids.glob("sub-*")) / f"{next(bids.glob('sub-*')).name}_sessions.tsv"
    path.write_text("session_id\tsevereity\nses-1\t3\tn/a\n")
    return (f"{path} line 2 has 3 fields but the header has 2; every row needs one tab-separated value per column "
            "(write n/a for a missing value).")


def _garbled_phenotype_file(bids: Path) -> str:
    path = bids / "phenotype" / "bdnf.tsv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("participant_id\tbdnf\nsub-01\t3\nsub-01\t4\n")
    return f"{path} has duplicate rows for sub-01 (lines 2 and 3); keep one row per participant."


def _no_target_columns(bids: Path) -> str:
    path = bids / "participants.tsv"
    path.write_text(path.read_text().replace("severity", "ket_severity").replace("stage", "phase"))
    return [f"{path} has no column 'severity' (role 'severity', configuration key columns.severity), which the "
            "target(s) severity need: add the column, or set 'columns: {severity: YOUR_COLUMN}' in the configuration "
            "to the name your file uses. participants.tsv has 'ket_severity': if that is the severity, set "
            "'columns: {severity: ket_severity}'.",
            f"{path} has no column 'stage' (role 'stage', configuration key columns.stage), which the target(s) "
            "stage, user_vs_control need: add the column, or set 'columns: {stage: YOUR_COLUMN}' in the "
            "configuration to the name your file uses."]


def _saved_as_csv(bids: Path) -> list[str]:
    path = bids / "participants.tsv"
    csv = bids / "participants.csv"
    csv.write_text(path.read_text().replace("\t", ","))
    path.unlink()
    return [f"{csv} is not read: BIDS phenotype tables are tab-separated text; save it as {path}.", _missing_text(bids)]


def _missing_text(bids: Path) -> str:
    return (f"{bids / 'participants.tsv'} is missing (and there is no sub-*/sub-*_sessions.tsv or phenotype/*.tsv), "
            "so nothing says which participant has which severity or stage. Add it at the BIDS root: "
            "tab-separated, a participant_id column (sub-01, ...) and the column(s) 'severity', 'stage' (n/a where "
            "a value is unknown); 'columns:' in the configuration maps your own column names.")


CASES = {"missing": _missing, "saved as csv": _saved_as_csv, "comma-separated": _comma_separated, "not text": _not_text,
         "broken link": _broken_link, "garbled sessions.tsv": _garbled_sessions,
         "garbled phenotype/ file": _garbled_phenotype_file, "no target columns": _no_target_columns}


def _sentences(case: str, bids: Path) -> list[str]:
    """The problem sentences a case plants (one for most cases)."""
    found = CASES[case](bids)
    return [found] if isinstance(found, str) else found


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    from neurokit.report._testing import fabricate_outputs

    root = tmp_path_factory.mktemp("fabricated")
    fabricate_outputs(root, n_subjects=6, with_group=False, with_models=False, xss_site=False)
    (root / "bids" / "sub-01").mkdir()  # for a sessions file
    return root


@pytest.fixture
def group_inputs(fabricated, tmp_path):
    """A participant level's outputs and their BIDS folder, a fresh copy for each test to break."""
    shutil.copytree(fabricated, tmp_path / "copy", symlinks=True)
    return tmp_path / "copy" / "bids", tmp_path / "copy" / "out"


@pytest.mark.parametrize("case", CASES)
def test_group_level_names_the_phenotype_problem_and_writes_nothing(group_inputs, capsys, case):
    bids, out = group_inputs
    message = " ".join(_sentences(case, bids))
    before = _tree(out)
    code = main([str(bids), str(out), "group", "--n-permutations", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"neurokit: error: {message}\n" in err
    assert "cv_folds" not in err and "No fitted model" not in err
    assert _tree(out) == before and not (out / "group").exists()


def test_group_level_names_participant_ids_that_match_no_run(group_inputs):
    from neurokit.io import PhenotypeError
    from neurokit.pipelines.group import run_group

    bids, out = group_inputs
    path = bids / "participants.tsv"
    path.write_text(path.read_text().replace("sub-0", "sub-"))  # a lab's sub-1 for the folders' sub-01
    before = _tree(out)
    from neurokit.config import Config

    with pytest.raises(PhenotypeError) as raised:
        run_group(bids, out, Config().updated({"atlas.name": "pfclimbic-spheres", "denoise.strategy": "scrubbing",
                                               "models.n_permutations": 0}))
    assert str(raised.value) == (
        f"none of the 7 run(s) in {out} has a severity or stage value in {path}: its participant_id values (sub-1, "
        "sub-2, sub-3, sub-4, sub-5, ...) must match the runs' participants (sub-01, sub-02, sub-03, sub-04, "
        "sub-05) exactly, and each needs a value (n/a only where it is unknown).")
    assert _tree(out) == before


def test_group_level_goes_on_without_one_target_and_says_why(group_inputs, caplog):
    """A stage column but no severity column: the stage models are fitted, the severity ones skipped by name."""
    from neurokit.config import Config
    from neurokit.pipelines._preflight import check_group_phenotype

    bids, _ = group_inputs
    path = bids / "participants.tsv"
    path.write_text(path.read_text().replace("severity", "craving"))
    with caplog.at_level(logging.WARNING):
        table = check_group_phenotype(bids, Config())
    assert table["stage"].notna().all() and table["severity"].isna().all()
    (record,) = [r for r in caplog.records if "columns.severity" in r.getMessage()]
    assert record.getMessage() == (
        f"{path} has no column 'severity' (role 'severity', configuration key columns.severity), which the target(s) "
        "severity need: add the column, or set 'columns: {severity: YOUR_COLUMN}' in the configuration to the name "
        "your file uses. Those targets' models are skipped.")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from neurokit.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("sim") / "bids"
    simulate_dataset(root, n_subjects=4, n_volumes=40, seed=3, n_jobs=1)
    return root


@pytest.mark.slow  # simulates a dataset (the first case); each case then takes about a second
@pytest.mark.parametrize("case", CASES)
def test_participant_level_warns_and_goes_on(simulated, tmp_path, monkeypatch, caplog, case):
    """The warning reaches the terminal's log stream and the level's log; the level still writes its outputs."""
    from neurokit.config import Config
    from neurokit.pipelines import participant as pp

    bids = tmp_path / "bids"
    shutil.copytree(simulated, bids, symlinks=True)
    sentences = _sentences(case, bids)
    computed = []
    monkeypatch.setattr(pp, "_compute", lambda todo, *a, **k: computed.append(len(todo)))  # the runs themselves
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        summary = pp.run_participant(bids, out, Config().updated({"denoise.min_volumes": 20}), progress=False)
    later = "the group level will stop until this is fixed"
    warnings = [f"{s} The participant level goes on (connectivity needs no phenotype); {later}." for s in sentences]
    assert warnings == [r.getMessage() for r in caplog.records if r.name == "neurokit.preflight"]
    (log_file,) = (out / "logs").glob("participant-*.log")
    assert all(f"WARNING neurokit.preflight: {w}" in log_file.read_text() for w in warnings)
    assert computed == [4] and summary.n_found == 4 and (out / "dataset_description.json").is_file()


@pytest.mark.slow  # shares the simulated dataset above
def test_participant_level_says_nothing_when_the_phenotype_is_fine(simulated, tmp_path, monkeypatch, caplog):
    from neurokit.config import Config
    from neurokit.pipelines import participant as pp

    monkeypatch.setattr(pp, "_compute", lambda *a, **k: None)
    with caplog.at_level(logging.WARNING):
        pp.run_participant(simulated, tmp_path / "out", Config().updated({"denoise.min_volumes": 20}), progress=False)
    assert not [r for r in caplog.records if r.name == "neurokit.preflight"]


def test_a_missing_participants_tsv_is_named_beside_a_sessions_file(group_inputs, capsys):
    bids, out = group_inputs
    (bids / "participants.tsv").unlink()
    sessions = bids / "sub-01" / "sub-01_sessions.tsv"
    sessions.write_text("session_id\tabstinence_days\nses-1\t3\nses-2\t30\n")
    assert main([str(bids), str(out), "group"]) == 2
    assert capsys.readouterr().err == (
        f"neurokit: error: {sessions} has no column 'severity' (role 'severity', configuration key columns.severity), "
        "which the target(s) severity need: add the column, or set 'columns: {severity: YOUR_COLUMN}' in the "
        f"configuration to the name your file uses. ({bids / 'participants.tsv'}, where such columns usually are, is "
        f"missing.) {sessions} has no column 'stage' (role 'stage', configuration key columns.stage), which the "
        "target(s) stage, user_vs_control need: add the column, or set 'columns: {stage: YOUR_COLUMN}' in the "
        f"configuration to the name your file uses. ({bids / 'participants.tsv'}, where such columns usually are, is "
        "missing.)\n")
