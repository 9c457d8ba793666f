"""The command line keeps BIDS-App habits: both label spellings, each level's own --help, a work folder,
help text on every flag."""

import argparse

import pytest

from neurokit.cli import _SUBCOMMANDS, _command_parser, _top_parser, main
from neurokit.cli._bids_app import _OtherLevel, analysis_level, resolve_config

PARTICIPANT_ONLY = ["--participant-label", "--participant_label", "--session-label", "--session_label",
                    "--derivatives", "--exclude", "--skip-existing", "--overwrite", "--retry-failed"]
GROUP_ONLY = ["--targets", "--n-permutations"]
SHARED = ["--config", "--atlas", "--strategy", "--task", "--space", "--n-workers", "--memory-limit",
          "--scheduler-file", "--work-dir", "--no-report", "--no-progress", "--verbose"]


def _args(argv):
    _, parser, rest = _command_parser(argv)
    return parser.parse_args(rest)


@pytest.mark.parametrize("spelling", ["--participant-label", "--participant_label"])
def test_both_participant_label_spellings_select_participants(spelling):
    config = resolve_config(_args(["bids", "out", "participant", spelling, "01", "sub-02"]))
    assert config.inputs.participant_label == ("01", "02")


@pytest.mark.parametrize("spelling", ["--session-label", "--session_label"])
def test_both_session_label_spellings_select_sessions(spelling):
    assert resolve_config(_args(["bids", "out", "participant", spelling, "1"])).inputs.session_label == ("1",)


@pytest.mark.parametrize("spelling", ["--participant-label", "--participant_label"])
def test_both_spellings_reach_the_label_check(tmp_path, capsys, spelling):
    """The BIDS Apps spelling goes through the same preflight as the dashed one (an unknown label is named)."""
    bids = tmp_path / "bids"
    (bids / "sub-01").mkdir(parents=True)
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    (bids / "derivatives" / "fmriprep").mkdir(parents=True)
    (bids / "derivatives" / "fmriprep" / "dataset_description.json").write_text(
        '{"Name": "fMRIPrep", "BIDSVersion": "1.9.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "fMRIPrep"}]}')
    code = main([str(bids), str(tmp_path / "out"), "participant", spelling, "99"])
    err = capsys.readouterr().err
    assert code == 2 and "neurokit: error:" in err and "99" in err and "unrecognized" not in err
    assert not (tmp_path / "out").exists()


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    return capsys.readouterr().out


def test_each_level_shows_its_own_options(capsys):
    participant = _help(["bids", "out", "participant", "--help"], capsys)
    group = _help(["bids", "out", "group", "--help"], capsys)
    both = _help(["bids", "out", "--help"], capsys)
    for option in SHARED:
        assert option in participant and option in group, option
    for option in PARTICIPANT_ONLY:
        assert option in participant and option not in group, option
    for option in GROUP_ONLY:
        assert option in group and option not in participant, option
    assert participant.startswith("usage: neurokit") and "{participant}" in participant and "{group}" in group
    assert "participant level:" in participant and "group level:" in group
    assert "participant --help" in both and "group --help" in both
    assert not any(option in both for option in PARTICIPANT_ONLY + GROUP_ONLY)


def test_options_before_the_positionals_and_an_output_folder_named_group():
    assert analysis_level(["--config", "c.yaml", "bids", "out", "group"]) == "group"
    assert analysis_level(["bids", "group", "participant", "--participant-label", "01"]) == "participant"
    assert analysis_level(["bids", "out"]) is None
    args = _args(["--config", "c.yaml", "bids", "group", "participant", "--participant_label", "01"])
    assert (args.analysis_level, str(args.output_dir), args.participant_label) == ("participant", "group", ["01"])


@pytest.mark.parametrize("level, option, reason", [
    ("group", "--participant_label", "the group level models every participant with outputs in OUTPUT_DIR"),
    ("group", "--overwrite", "the group level always refits its models"),
    ("participant", "--n-permutations", "the participant level fits no model"),
])
def test_an_option_of_the_other_level_is_refused_with_the_reason(capsys, level, option, reason):
    with pytest.raises(SystemExit) as done:
        main(["bids", "out", level, option, "5"])
    other = "participant" if level == "group" else "group"
    assert done.value.code == 2
    assert (f"neurokit: error: {option} is an option of the {other} level; {reason}: drop it (see `neurokit "
            f"BIDS_DIR OUTPUT_DIR {other} --help`).") in capsys.readouterr().err


def test_work_dir_is_the_workers_scratch_folder(tmp_path, capsys):
    for level in ("participant", "group"):
        config = resolve_config(_args(["bids", "out", level, "--work-dir", str(tmp_path / "scratch")]))
        assert config.cluster.local_directory == str(tmp_path / "scratch")
        assert config.cluster.local_directory == resolve_config(_args(["bids", "out", level, "-w",
                                                                        str(tmp_path / "scratch")])).cluster.local_directory
    assert resolve_config(_args(["bids", "out", "group"])).cluster.local_directory is None
    text = " ".join(_help(["bids", "out", "participant", "--help"], capsys).split())
    assert "neurokit keeps no other intermediate files" in text and "cluster.local_directory" in text


def test_group_flags_set_the_models():
    config = resolve_config(_args(["bids", "out", "group", "--targets", "stage", "--n-permutations", "0",
                                   "--no-report"]))
    assert config.models.targets == ("stage",) and config.models.n_permutations == 0
    assert config.report.enabled is False
    assert resolve_config(_args(["bids", "out", "participant"])).report.enabled is True


def _parsers():
    """Every parser the command line builds: the top one, each subcommand (and theirs), each level."""
    found = [("neurokit", _top_parser())]
    for name in _SUBCOMMANDS:
        found.append((name, _command_parser([name])[1]))
    for level in ("participant", "group", None):
        argv = ["bids", "out"] + ([level] if level else [])
        found.append((f"level {level}", _command_parser(argv)[1]))
    queue = list(found)
    while queue:
        name, parser = queue.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    found.append((f"{name} {sub}", subparser))
                    queue.append((f"{name} {sub}", subparser))
    return found


def test_every_flag_has_help_text():
    undocumented = []
    for name, parser in _parsers():
        for action in parser._actions:
            if isinstance(action, _OtherLevel):
                continue  # the other level's option: hidden from this level's help, refused with its reason
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                undocumented += [f"{name} {sub}" for sub in action.choices if not helps.get(sub)]
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                undocumented.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert undocumented == []
    assert len(_parsers()) >= 11  # top, 4 subcommands, 4 atlases actions, 3 level parsers


def test_demo_help_documents_seed_progress_and_verbosity(capsys):
    parser = _command_parser(["demo"])[1]
    helps = {option: action.help for action in parser._actions for option in action.option_strings}
    assert all(helps[option] for option in ("--seed", "--no-progress", "-v", "--verbose"))
    text = " ".join(_help(["demo", "--help"], capsys).split())
    assert "random seed of the simulated dataset" in text and "plain log lines instead of a progress line" in text
