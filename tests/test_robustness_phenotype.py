"""Phenotype files from labs the project has not seen: their own column names."""

import logging

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
