import pytest
import yaml

from neurokit.config import _validate, Config, ConfigError, load_config


def test_defaults_load_and_are_frozen():
    config = load_config()
    assert config.atlas.name == "pfclimbic"
    assert config.columns.control == "control"
    with pytest.raises(Exception, match="frozen"):
        config.atlas.name = "other"


@pytest.mark.parametrize("name", ["default.yaml", "demo.yaml", "slurm.yaml", "pbs.yaml"])
def test_shipped_configs_are_valid(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / name
    config = load_config(path)
    assert isinstance(config, Config)


def test_default_yaml_lists_the_defaults():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
    assert load_config(path) == Config()


def test_unknown_key_suggests_nearest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("denoise:\n  fd_treshold: 0.3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'denoise.fd_treshold'; did you mean 'fd_threshold'\?"):
        load_config(path)


def test_unknown_section_suggests_nearest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("denoising:\n  strategy: simple\n")
    with pytest.raises(ConfigError, match=r"unknown key 'denoising'; did you mean 'denoise'\?"):
        load_config(path)


def test_wrong_type_names_key_and_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("denoise:\n  fd_threshold: lots\n")
    with pytest.raises(ConfigError, match=r"denoise.fd_threshold: .*got 'lots'"):
        load_config(path)


def test_impossible_value_names_allowed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("denoise:\n  strategy: aroma\n")
    with pytest.raises(ConfigError, match=r"denoise.strategy: Input should be 'simple'.*got 'aroma'"):
        load_config(path)


def test_band_pass_order_checked():
    with pytest.raises(ConfigError, match=r"high_pass .* must be below denoise.low_pass"):
        Config().updated({"denoise.high_pass": 0.1, "denoise.low_pass": 0.05})


def test_stage_levels_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("columns:\n  stage_levels: [hc, user]\n  control_level: healthy\n")
    with pytest.raises(ConfigError, match=r"control_level 'healthy' is not one of stage_levels"):
        load_config(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist; pass an existing YAML file"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("denoise: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"must hold a YAML mapping"):
        load_config(listy)


def test_roundtrip_and_hash(tmp_path):
    config = Config().updated({"denoise.strategy": "scrubbing", "inputs.participant_label": ["sub-01", "02"]})
    assert config.inputs.participant_label == ("01", "02")
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())
    again = load_config(path)
    assert again == config
    assert again.hash() == config.hash()
    assert Config().hash() != config.hash()
    assert yaml.safe_load(config.to_yaml())["denoise"]["strategy"] == "scrubbing"


def test_override_none_keeps_file_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("atlas:\n  name: pfclimbic-spheres\n")
    config = load_config(path, overrides={"atlas.name": None, "denoise.strategy": "compcor"})
    assert config.atlas.name == "pfclimbic-spheres"
    assert config.denoise.strategy == "compcor"


def test_denoise_n_compcor_validated():
    assert Config().updated({"denoise.n_compcor": 0.5}).denoise.n_compcor == 0.5
    assert Config().updated({"denoise.n_compcor": 6}).denoise.n_compcor == 6
    # neurokit.denoise's rule, checked also where the strategy (default scrubbing+gsr) does not use it
    with pytest.raises(ConfigError, match=r"denoise: .*strategy 'scrubbing\+gsr': 'n_compcor' must be a positive "
                                          r"integer, a variance fraction in \(0, 1\) or 'all'; got 0"):
        Config().updated({"denoise.n_compcor": 0})


def test_denoise_wm_csf_not_with_compcor():
    with pytest.raises(ConfigError, match=r"denoise: .*strategy 'compcor': 'wm_csf' is not part of the 'compcor' "
                                          r"preset .*leave wm_csf unset"):
        Config().updated({"denoise.strategy": "compcor", "denoise.wm_csf": "basic"})


def test_denoise_kwargs_feed_the_library():
    from neurokit.denoise import clean, select_confounds  # noqa: F401  (names the kwargs target)

    denoise = Config().updated({"denoise.standardize": "none", "denoise.strategy": "scrubbing+gsr"}).denoise
    assert denoise.select_kwargs()["strategy"] == "scrubbing+gsr"
    assert denoise.clean_kwargs()["standardize"] is None
    assert set(denoise.clean_kwargs()) == {"detrend", "standardize", "high_pass", "low_pass", "filter", "min_volumes"}


def test_connectivity_kwargs_feed_the_library(tmp_path):
    from neurokit.connectivity import connectivity_matrix  # noqa: F401  (names the kwargs target)
    from neurokit.qc import exclusion_decision

    conn = Config().updated({"connectivity.measures": ["correlation", "tangent", "covariance"]}).connectivity
    assert conn.per_run_kinds() == ("correlation", "covariance")
    # the default is a fixed shrinkage (docs/denoising.md: Ledoit-Wolf's bias follows the kept volumes)
    assert conn.matrix_kwargs() == {"covariance_estimator": "shrunk", "shrinkage": 0.1}
    lw = Config().updated({"connectivity.covariance_estimator": "ledoit_wolf"}).connectivity
    assert lw.matrix_kwargs() == {"covariance_estimator": "ledoit_wolf"}
    assert Config().updated({"connectivity.shrinkage": 0.25}).connectivity.matrix_kwargs()["shrinkage"] == 0.25
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ConfigError, match=r"connectivity.shrinkage"):
            Config().updated({"connectivity.shrinkage": bad})
    with pytest.raises(ConfigError, match=r"connectivity.shrinkage \(0.3\) applies to connectivity.covariance_estimator "
                                          r"'shrunk' only, not 'oas'.*drop shrinkage"):
        Config().updated({"connectivity.covariance_estimator": "oas", "connectivity.shrinkage": 0.3})
    with pytest.raises(ConfigError, match=r"connectivity.measures has repeated measures"):
        Config().updated({"connectivity.measures": ["correlation", "correlation"]})
    config = Config()
    limits = config.exclusion.decision_kwargs(config.denoise.min_volumes)
    # by default volumes are censored instead of runs cut on mean FD, and runs left with < 20 tDOF go
    assert not exclusion_decision(mean_fd=0.7, censored_fraction=0.0, n_remaining=200, **limits)[0]
    assert exclusion_decision(mean_fd=0.1, censored_fraction=0.0, n_remaining=200, tdof_remaining=19, **{
        k: v for k, v in limits.items() if k != "tdof_remaining"})[0]
    path = tmp_path / "c.yaml"
    path.write_text("exclusion:\n  max_mean_fd: 0.55\n")
    assert load_config(path).exclusion.max_mean_fd == 0.55


def test_models_estimator_must_fit_every_target():
    with pytest.raises(ConfigError, match=r"models.estimator 'logistic' cannot model the continuous target 'severity'"):
        Config().updated({"models.estimator": "logistic"})
    config = Config().updated({"models.estimator": "logistic", "models.targets": ["stage", "user_vs_control"]})
    assert config.models.cpm_threshold == 0.01


def test_hash_ignores_execution_settings():
    base = Config()
    assert base.updated({"cluster.n_workers": 1, "report.enabled": False}).hash() == base.hash()
    assert base.updated({"models.cv_repeats": 2}).hash() != base.hash()
    # a run's fingerprint depends only on what shapes its outputs
    assert base.updated({"models.cv_repeats": 2}).run_hash() == base.run_hash()
    assert base.updated({"denoise.strategy": "compcor"}).run_hash() != base.run_hash()
    with pytest.raises(ConfigError, match=r"unknown configuration section\(s\) \['denose'\]"):
        base.hash(["denose"])


def test_unquoted_numeric_labels_get_a_quoting_hint(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inputs:\n  participant_label: [01, 010]\n  session_label: ['1']\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "inputs.participant_label.0: Input should be a valid string (got 1)" in text
    assert "(got 8)" in text  # YAML 1.1 octal: why labels must be quoted, not converted
    assert text.count("quote it") == 1 and 'participant_label: ["01", "02"]' in text
    path.write_text("inputs:\n  participant_label: ['01', '010']\n")
    assert load_config(path).inputs.participant_label == ("01", "010")


def test_strategy_list_validated_with_the_bad_entry_named():
    config = Config().updated({"denoise.strategy": ["scrubbing+gsr", "simple"]})
    assert config.strategies == ("scrubbing+gsr", "simple") and config.modelled_strategy == "scrubbing+gsr"
    assert config.denoise.select_kwargs("simple")["strategy"] == "simple"
    assert config.denoise.select_kwargs()["strategy"] == "scrubbing+gsr"
    assert config.updated({"models.strategy": "simple"}).modelled_strategy == "simple"
    with pytest.raises(ConfigError, match=r"denoise.strategy: entry 1 \('aroma'\) is not a strategy; use 'simple'"):
        Config().updated({"denoise.strategy": ["simple", "aroma"]})
    with pytest.raises(ConfigError, match=r"denoise.strategy: 'simple' is listed more than once"):
        Config().updated({"denoise.strategy": ["simple", "compcor", "simple"]})
    with pytest.raises(ConfigError, match=r"denoise.strategy: the list is empty; name at least one strategy"):
        Config().updated({"denoise.strategy": []})
    with pytest.raises(ConfigError, match=r"denoise.strategy: Input should be a strategy name or a list of them"):
        Config().updated({"denoise.strategy": 3})
    with pytest.raises(ConfigError, match=r"strategy 'compcor': 'wm_csf' is not part of the 'compcor' preset"):
        Config().updated({"denoise.strategy": ["simple", "compcor"], "denoise.wm_csf": "basic"})
    with pytest.raises(ConfigError, match=r"strategy 'compcor' is not listed in denoise.strategy \['simple'\]"):
        Config().updated({"denoise.strategy": "simple"}).denoise.select_kwargs("compcor")


def test_models_strategy_must_be_listed():
    with pytest.raises(ConfigError, match=r"models.strategy 'compcor' is not one of the strategies in denoise.strategy "
                                          r"\['simple', 'scrubbing'\]; add it there or set models.strategy: null "
                                          r"\(the first listed, 'simple'\)"):
        Config().updated({"denoise.strategy": ["simple", "scrubbing"], "models.strategy": "compcor"})


def test_single_strategy_keeps_its_hash_and_overrides_apply_to_every_strategy(tmp_path):
    # the configuration hash of the releases before strategy lists and the evidence-based defaults
    # (denoise.strategy: simple with a band-pass, mean FD cut at 0.5 mm and regressed in the models, 100
    # permutations, Ledoit-Wolf covariances)
    base = Config().updated({"denoise.strategy": "simple", "denoise.low_pass": 0.08, "exclusion.max_mean_fd": 0.5,
                             "models.covariates": ["age", "sex", "mean_fd"], "models.n_permutations": 100,
                             "connectivity.covariance_estimator": "ledoit_wolf"})
    data = base.to_dict()
    data["exclusion"]["min_tdof"] = None
    base = _validate(data, source="test")
    assert base.hash() == "16a8f391e5a6f2fb" and base.run_hash() == "a068794ced0de925"
    one = base.updated({"denoise.strategy": ["simple"]})
    assert one.denoise.strategy == "simple" and one.hash() == base.hash()
    several = base.updated({"denoise.strategy": ["simple", "compcor"], "denoise.global_signal": "basic"})
    assert several.run_hash() != base.run_hash()
    assert {several.denoise.select_kwargs(s)["global_signal"] for s in several.strategies} == {"basic"}
    assert base.updated({"models.strategy": "simple"}).hash() != base.hash()  # an explicit choice is recorded
    path = tmp_path / "c.yaml"
    path.write_text(several.to_yaml())
    assert load_config(path) == several


def test_cli_strategy_takes_several_names():
    import argparse

    from neurokit.cli._bids_app import add_arguments, resolve_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["bids", "out", "participant", "--strategy", "simple", "scrubbing+gsr"])
    assert resolve_config(args).strategies == ("simple", "scrubbing+gsr")
    args = parser.parse_args(["bids", "out", "participant", "--strategy", "compcor"])
    assert resolve_config(args).denoise.strategy == "compcor"


def test_demo_overrides_equal_configs_demo_yaml():
    from pathlib import Path

    from neurokit.cli._demo import _DEMO_CONFIG

    path = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    demo = load_config(path)
    assert demo == Config().updated(_DEMO_CONFIG)
    assert len(demo.strategies) == 3 and demo.modelled_strategy == Config().denoise.strategy


def test_physio_regressor_settings_are_validated_and_hashed_with_a_physio_strategy():
    from neurokit.config import Config

    config = Config()
    assert config.physio.regressors.kwargs() == {"cardiac_order": 3, "respiratory_order": 4, "interaction_order": 0,
                                                 "rvt": True, "hr": True}
    changed = config.updated({"physio.regressors": {"interaction_order": 1}})
    # without a '+physio' strategy the regressors shape no run output: the run hash stays
    assert changed.run_hash() == config.run_hash()
    physio = config.updated({"denoise.strategy": "scrubbing+gsr+physio"})
    assert physio.run_hash() != config.run_hash()
    assert physio.updated({"physio.regressors": {"interaction_order": 1}}).run_hash() != physio.run_hash()
    with pytest.raises(ConfigError, match="physio.regressors.cardiac_order"):
        config.updated({"physio.regressors": {"cardiac_order": -1}})
    with pytest.raises(ConfigError, match="physio.enabled is false, so none are read"):
        physio.updated({"physio.enabled": False})
    with pytest.raises(ConfigError, match="turns every regressor off"):
        config.updated({"physio.regressors": {"cardiac_order": 0, "respiratory_order": 0, "rvt": False, "hr": False}})
