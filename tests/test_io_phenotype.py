"""Tests for neurokit.io.load_phenotype and phenotype_for_runs on small hand-written TSVs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurokit.config import DEFAULT_STAGE_LEVELS, ROLES, ColumnsConfig
from neurokit.io import PhenotypeError, Run, load_phenotype, phenotype_for_runs


def _tsv(path: Path, rows, sep="\t"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sep.join(map(str, r)) for r in rows) + "\n")


@pytest.fixture
def root(tmp_path):
    _tsv(
        tmp_path / "participants.tsv",
        [
            ["participant_id", "age", "sex", "site", "severity", "stage", "handedness"],
            ["sub-01", 31, "F", "A", 12.5, "active", "R"],
            ["sub-02", 45, "M", "B", "n/a", "control", "L"],
            ["03", "", "F", "A", 3, "early_abstinence", "n/a"],
        ],
    )
    return tmp_path


def test_participants_only(root):
    df = load_phenotype(root)
    assert list(df.columns[:10]) == ["participant_id", "session_id", *ROLES]
    assert list(df["participant_id"]) == ["sub-01", "sub-02", "sub-03"]
    assert df["session_id"].isna().all()
    np.testing.assert_array_equal(df["age"], [31.0, 45.0, np.nan])
    np.testing.assert_array_equal(df["severity"], [12.5, np.nan, 3.0])
    assert df["severity"].dtype == float
    assert isinstance(df["stage"].dtype, pd.CategoricalDtype) and df["stage"].cat.ordered
    assert list(df["stage"].cat.categories) == list(DEFAULT_STAGE_LEVELS)
    assert list(df["stage"].cat.codes) == [1, 0, 2]  # active, control, early_abstinence
    assert list(df["sex"]) == ["F", "M", "F"]
    assert df.loc[2, "handedness"] is None or pd.isna(df.loc[2, "handedness"])
    assert df.attrs["missing_roles"] == ["abstinence_days", "bdnf", "hrv"]
    assert df["bdnf"].isna().all()


def test_lab_column_names(tmp_path):
    _tsv(
        tmp_path / "participants.tsv",
        [["subject", "ket_sev", "recovery_phase", "days_clean"], ["01", 7, "using", 0], ["02", 0, "healthy", "n/a"]],
    )
    columns = ColumnsConfig(
        participant_id="subject",
        severity="ket_sev",
        stage="recovery_phase",
        abstinence_days="days_clean",
        stage_levels=("healthy", "using", "abstinent"),
    )
    df = load_phenotype(tmp_path, columns)
    assert list(df["participant_id"]) == ["sub-01", "sub-02"]
    assert list(df["severity"]) == [7.0, 0.0]
    assert list(df["stage"]) == ["using", "healthy"]
    assert list(df["stage"].cat.categories) == ["healthy", "using", "abstinent"]
    assert "ket_sev" not in df.columns and "recovery_phase" not in df.columns
    assert np.isnan(df["abstinence_days"].iloc[1])


def test_sessions_override_participant_values(root):
    _tsv(
        root / "sub-01" / "sub-01_sessions.tsv",
        [["session_id", "stage", "abstinence_days", "bdnf"], ["ses-1", "active", 0, 20.5], ["2", "sustained_remission", 200, "n/a"]],
    )
    _tsv(root / "sub-02" / "sub-02_sessions.tsv", [["session_id", "stage"], ["ses-1", "n/a"]])
    df = load_phenotype(root)
    keys = list(zip(df["participant_id"], [s if isinstance(s, str) else None for s in df["session_id"]]))
    assert keys == [("sub-01", "ses-1"), ("sub-01", "ses-2"), ("sub-02", "ses-1"), ("sub-03", None)]
    assert list(df["stage"].astype(object)) == ["active", "sustained_remission", "control", "early_abstinence"]
    np.testing.assert_array_equal(df["abstinence_days"], [0.0, 200.0, np.nan, np.nan])
    np.testing.assert_array_equal(df["age"], [31.0, 31.0, 45.0, np.nan])  # participant-level values repeat
    assert df.attrs["missing_roles"] == ["hrv"]


def test_phenotype_folder_joined(root):
    _tsv(root / "phenotype" / "blood.tsv", [["participant_id", "bdnf", "crp"], ["sub-01", 22.1, 0.4], ["sub-03", "n/a", 1.1]])
    _tsv(root / "phenotype" / "ecg.tsv", [["participant_id", "session_id", "hrv"], ["sub-01", "ses-1", 55], ["sub-02", "1", 61]])
    df = load_phenotype(root)
    row = df.set_index(["participant_id"]).loc["sub-01"]
    assert row["session_id"] == "ses-1" and row["bdnf"] == 22.1 and row["hrv"] == 55.0 and row["crp"] == 0.4
    assert df["crp"].dtype == float
    assert len(df) == 3
    assert df.set_index("participant_id").loc["sub-03", "crp"] == 1.1


def test_no_files_gives_empty_table(tmp_path):
    df = load_phenotype(tmp_path)
    assert len(df) == 0 and list(df.columns) == ["participant_id", "session_id", *ROLES]
    assert df.attrs["missing_roles"] == list(ROLES)


def test_not_tab_separated(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "age"], ["sub-01", 3]], sep=",")
    with pytest.raises(PhenotypeError, match=r"participants.tsv is not tab-separated .*re-save it as tab-separated"):
        load_phenotype(tmp_path)


def test_ragged_rows(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "age"], ["sub-01", 3], ["sub-02", 4, "x"]])
    with pytest.raises(PhenotypeError, match=r"participants.tsv line 3 has 3 fields but the header has 2; .*n/a"):
        load_phenotype(tmp_path)


def test_repeated_column_names(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "age", "age"], ["sub-01", 3, 4]])
    with pytest.raises(PhenotypeError, match=r"repeated column names \['age'\]"):
        load_phenotype(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "participants.tsv").write_text("\n")
    with pytest.raises(PhenotypeError, match="participants.tsv is empty; a TSV needs a header row"):
        load_phenotype(tmp_path)


def test_missing_participant_id_column(tmp_path):
    _tsv(tmp_path / "phenotype" / "x.tsv", [["subject", "age"], ["sub-01", 3]])
    with pytest.raises(PhenotypeError, match=r"x.tsv has no 'participant_id' column .*set columns.participant_id"):
        load_phenotype(tmp_path)


def test_blank_participant_id(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "age"], ["n/a", 3]])
    with pytest.raises(PhenotypeError, match=r"line 2 has no participant_id"):
        load_phenotype(tmp_path)


def test_sessions_file_without_session_column(root):
    _tsv(root / "sub-01" / "sub-01_sessions.tsv", [["stage"], ["active"]])
    with pytest.raises(PhenotypeError, match=r"sub-01_sessions.tsv has no 'session_id' column"):
        load_phenotype(root)


def test_duplicate_participant_rows(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "age"], ["sub-01", 3], ["sub-02", 4], ["01", 5]])
    with pytest.raises(
        PhenotypeError, match=r"participants.tsv has duplicate rows for sub-01 \(lines 2 and 4\); keep one row per participant"
    ):
        load_phenotype(tmp_path)


def test_duplicate_session_rows(root):
    _tsv(root / "sub-01" / "sub-01_sessions.tsv", [["session_id"], ["ses-1"], ["1"]])
    with pytest.raises(PhenotypeError, match=r"duplicate rows for sub-01 ses-1 .*one row per participant and session"):
        load_phenotype(root)


def test_stage_value_not_in_levels(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "stage"], ["sub-01", "relapse"], ["sub-02", "Active"]])
    with pytest.raises(
        PhenotypeError,
        match=r"column 'stage' \(role 'stage'\) has values \['Active', 'relapse'\] that are not stage levels; "
        r"allowed levels are \['control', 'active', 'early_abstinence', 'sustained_remission'\].*columns.stage_levels",
    ):
        load_phenotype(tmp_path)


def test_non_numeric_value_in_numeric_role(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "ket_sev"], ["sub-01", 3], ["sub-02", "high"]])
    with pytest.raises(
        PhenotypeError, match=r"participants.tsv line 3 \(sub-02\): column 'ket_sev' \(role 'severity'\) has the non-numeric value 'high'"
    ):
        load_phenotype(tmp_path, ColumnsConfig(severity="ket_sev"))


def test_conflicting_values_between_files(root):
    _tsv(root / "phenotype" / "demo.tsv", [["participant_id", "age"], ["sub-01", 32]])
    with pytest.raises(PhenotypeError, match=r"give different values for 'age' of sub-01 \(32.0 vs 31.0\)"):
        load_phenotype(root)


def test_unmapped_column_named_like_a_role_does_not_pose_as_it(tmp_path):
    _tsv(tmp_path / "participants.tsv", [["participant_id", "ket_sev", "severity"], ["sub-01", 3, "mild"]])
    df = load_phenotype(tmp_path, ColumnsConfig(severity="ket_sev"))
    assert df.loc[0, "severity"] == 3.0 and df.loc[0, "severity_unmapped"] == "mild"


def test_missing_bids_dir(tmp_path):
    with pytest.raises(PhenotypeError, match="does not exist"):
        load_phenotype(tmp_path / "nope")


def _run(sub, ses=None):
    entities = (("sub", sub),) + ((("ses", ses),) if ses else ()) + (("task", "rest"),)
    p = Path("x")
    return Run(entities, p, None, p, None, p, 2.0, 10)


def test_phenotype_for_runs(root):
    _tsv(root / "sub-01" / "sub-01_sessions.tsv", [["session_id", "stage"], ["ses-1", "active"], ["ses-2", "early_abstinence"]])
    pheno = load_phenotype(root)
    runs = [_run("01", "2"), _run("01", "1"), _run("03", "1"), _run("09")]
    table = phenotype_for_runs(pheno, runs)
    assert list(table["run_id"]) == [r.run_id for r in runs]
    assert list(table["stage"].astype(object).where(table["stage"].notna(), None)) == [
        "early_abstinence",
        "active",
        "early_abstinence",  # sub-03 has no sessions: its participant row is used
        None,
    ]
    assert isinstance(table["stage"].dtype, pd.CategoricalDtype)
    assert list(table["participant_id"]) == ["sub-01", "sub-01", "sub-03", "sub-09"]
    assert table["session_id"].iloc[2] == "ses-1"
    assert table.attrs["unmatched_runs"] == ["sub-09_task-rest"]
    np.testing.assert_array_equal(table["age"], [31.0, 31.0, np.nan, np.nan])


def test_session_level_phenotype_joins_sessions_files(tmp_path):
    _tsv(tmp_path / "sub-01" / "sub-01_sessions.tsv", [["session_id", "stage"], ["ses-1", "active"], ["ses-2", "active"]])
    _tsv(tmp_path / "phenotype" / "ecg.tsv", [["participant_id", "session_id", "hrv"], ["sub-01", "ses-2", 50], ["sub-03", "ses-1", 70]])
    df = load_phenotype(tmp_path)
    assert list(df["participant_id"]) == ["sub-01", "sub-01", "sub-03"]
    np.testing.assert_array_equal(df["hrv"], [np.nan, 50.0, 70.0])
    assert df["stage"].isna().tolist() == [False, False, True]
    _tsv(tmp_path / "phenotype" / "visits.tsv", [["participant_id", "session_id", "stage"], ["sub-01", "ses-2", "control"]])
    with pytest.raises(PhenotypeError, match=r"give different values for 'stage' of sub-01 ses-2 \('control' vs 'active'\)"):
        load_phenotype(tmp_path)
