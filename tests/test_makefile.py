"""`make`'s torch stamp: a make whose command line names no torch keeps the installed one (a CPU
build stays a CPU build), one that names another installs it, and CI's exported spec installs on
a fresh venv; the default experiment `make train` adds to ARGS; and ARGS reaching the command
as a shell splits it, with nothing in it expanded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stockcast.paths import PROJECT_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

CPU = ("TORCH_SPEC=torch==2.13.0", "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
CPU_STAMP = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def fake_venv(tmp: Path) -> Path:
    """A venv whose python only logs what it was asked to do (pip installs, here)."""
    venv = tmp / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/../calls.log"\n')
    python.chmod(0o755)
    (venv / "bin" / "pip").symlink_to("python")
    return venv


def run_make(venv: Path, arguments: list[str], environment: dict[str, str]) -> list[str]:
    """`make VENV=<venv> <arguments>` with `environment` as its whole environment: what the
    fake venv's python was asked to do (its log, emptied for the next call)."""
    subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    log = venv / "calls.log"
    calls = log.read_text().splitlines() if log.is_file() else []
    log.unlink(missing_ok=True)
    return calls


def make_stamp(venv: Path, *args: str, **environment: str) -> list[str]:
    """Run `make <stamp>` with `args` on its command line; the torch installs it asked for."""
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_SPEC", "TORCH_INDEX")}
    calls = run_make(venv, [f"{venv}/.torch-spec", *args], env | environment)
    return [call for call in calls if call.startswith("-m pip install --quiet torch")]


def make_keys(venv: Path, environment: dict[str, str], *flags: str) -> list[str]:
    """The script calls `make keys` makes (its log of them), with `environment` in place of
    the caller's STOCKCAST_ variables and the install taken as done."""
    (venv / ".installed").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKCAST_")}
    return run_make(venv, [*flags, "-o", f"{venv}/.installed", "keys"], env | environment)


def test_a_make_without_a_spec_keeps_the_torch_installed_with_one(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    stamp = venv / ".torch-spec"
    assert make_stamp(venv, *CPU) == [f"-m pip install --quiet {CPU_STAMP}"]
    assert stamp.read_text().strip() == CPU_STAMP
    assert make_stamp(venv) == [], "a later make train/replay must not reinstall the default"
    assert make_stamp(venv, TORCH_SPEC="torch==2.12.0") == [], "only a command line changes it"
    assert stamp.read_text().strip() == CPU_STAMP
    assert make_stamp(venv, "TORCH_SPEC=torch") == ["-m pip install --quiet torch"]
    assert stamp.read_text().strip() == "torch"


def test_a_venv_from_before_the_stamp_installs_a_torch_its_command_line_names(
    tmp_path: Path,
) -> None:
    """A venv installed before .torch-spec existed recorded the named CPU spec as installed and
    kept its CUDA torch; a make naming none still adopts its torch as it is."""
    venv = fake_venv(tmp_path)
    (venv / ".installed").touch()
    assert make_stamp(venv) == []
    assert (venv / ".torch-spec").read_text().strip() == "torch"
    (venv / ".torch-spec").unlink()
    assert make_stamp(venv, *CPU) == [f"-m pip install --quiet {CPU_STAMP}"]
    assert (venv / ".torch-spec").read_text().strip() == CPU_STAMP


def test_a_venv_left_without_pip_gets_it(tmp_path: Path) -> None:
    """A python without ensurepip (Debian without python3-venv) leaves bin/python but no pip:
    make kept that venv, so every later make failed on `No module named pip` even once
    python3-venv was installed."""
    venv = fake_venv(tmp_path)
    (venv / "bin" / "pip").unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_SPEC", "TORCH_INDEX")}
    ensurepip = "-m ensurepip --upgrade --default-pip"
    assert ensurepip in run_make(venv, [f"{venv}/.torch-spec"], env)
    (venv / "bin" / "pip").symlink_to("python")
    assert ensurepip not in run_make(venv, [f"{venv}/.torch-spec"], env), "pip there is kept"


OLD_PYTHON = (
    "#!/bin/sh\n"  # reports Python 3.10 to a -c check, logs anything else (a venv it would make)
    '[ "$1" = -c ] && exec python3 -c '
    '\'import sys; sys.version_info = (3, 10, 12, "final", 0); exec(sys.argv[1])\' "$2"\n'
    'echo "$@" >> "$(dirname "$0")/calls.log"\n'
)


@pytest.mark.parametrize("venv_exists", [False, True])
def test_make_refuses_a_python_older_than_setup_cfg_asks(tmp_path: Path, venv_exists: bool) -> None:
    """A Python 3.10 made the venv and pip refused stockcast only after torch was downloaded; a
    later make with PYTHON=python3.11 then kept that venv and failed the same way."""
    python = tmp_path / "python3"
    python.write_text(OLD_PYTHON)
    python.chmod(0o755)
    venv = tmp_path / "venv"
    if venv_exists:
        venv = fake_venv(tmp_path)
        (venv / "bin" / "python").write_text(OLD_PYTHON)
        python = tmp_path / "python3.11"
        python.symlink_to(shutil.which("python3") or "python3")
    done = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", f"PYTHON={python}", f"{venv}/.torch-spec"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    old = venv / "bin" / "python" if venv_exists else python
    fix = f"remove {venv} and run" if venv_exists else "run"
    assert (
        f"{old} is Python 3.10 and stockcast needs 3.11 or newer (setup.cfg): {fix} make again "
        "with PYTHON set to a newer one (make install PYTHON=python3.11)."
    ) in done.stderr.splitlines()
    assert not list(tmp_path.rglob("calls.log")), "neither a venv made of it nor torch installed"


def test_ci_exports_the_cpu_wheel_and_a_fresh_venv_installs_it(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    assert make_stamp(venv, TORCH_SPEC="torch==2.13.0") == ["-m pip install --quiet torch==2.13.0"]
    assert (venv / ".torch-spec").read_text().strip() == "torch==2.13.0"
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert 'export TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"' in ci


@pytest.mark.parametrize(
    "variables", [(), ("STOCKCAST_ROOT",), ("STOCKCAST_ROOT", "STOCKCAST_KEYS_DIR")]
)
def test_make_keys_writes_where_the_registry_config_reads(
    tmp_path: Path, variables: tuple[str, ...]
) -> None:
    """configs/registry/local.yaml reads the pair from STOCKCAST_KEYS_DIR, else
    <STOCKCAST_ROOT>/keys: a pair made anywhere else leaves every model unsigned."""
    from stockcast.config.compose import compose_config

    environment = {name: str(tmp_path / name.lower()) for name in variables}
    # -B: even where a pair exists (the project's own keys/, on a working copy).
    # One call per key file -B remakes; the script keeps the pair the first call wrote.
    calls = set(make_keys(fake_venv(tmp_path), environment, "-B"))
    assert len(calls) == 1, calls
    script, folder = calls.pop().split()
    assert script == "scripts/signing_keys.py"
    made = PROJECT_ROOT / folder  # an absolute folder stays itself
    if not variables:
        assert made == PROJECT_ROOT / "keys"
        return  # the project's own keys/: left alone here
    assert made.is_relative_to(tmp_path), "the pair goes where the variables say"
    key = made / "model-signing.key"
    key.parent.mkdir(parents=True)
    key.write_text("a stand-in for the PEM the script writes")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("STOCKCAST_ROOT", "STOCKCAST_KEYS_DIR"):
            patch.delenv(name, raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        assert compose_config("train").registry.signing.private_key == str(key)


@pytest.mark.parametrize(
    ("present", "writes"),
    [(("model-signing.key", "model-signing.pub"), False), (("model-signing.key",), True)],
)
def test_make_writes_a_lost_public_key_again(
    tmp_path: Path, present: tuple[str, ...], writes: bool
) -> None:
    """A private key without its public one signs every version but verifies none (the config
    reads a missing public key as none): make runs the script, which writes it again."""
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in present:
        (keys / name).write_text("a stand-in for the PEM")
    calls = make_keys(fake_venv(tmp_path), {"STOCKCAST_KEYS_DIR": str(keys)})
    assert calls == ([f"scripts/signing_keys.py {keys}"] if writes else [])


def test_make_keys_takes_a_folder_with_a_space_as_one(tmp_path: Path) -> None:
    """With STOCKCAST_ROOT=~/My Projects/x make read two targets and gave the script two words,
    which it refused, and its advice (create the pair by hand) left make failing the same way."""
    keys = tmp_path / "my keys"
    venv = fake_venv(tmp_path)
    (venv / "bin" / "python").write_text(
        '#!/bin/sh\nlog="$(dirname "$0")/../calls.log"\nprintf "%s|" "$@" >> "$log"\necho >> "$log"\n'
    )
    assert set(make_keys(venv, {"STOCKCAST_KEYS_DIR": str(keys)})) == {
        f"scripts/signing_keys.py|{keys}|"
    }
    keys.mkdir()
    for name in ("model-signing.key", "model-signing.pub"):
        (keys / name).write_text("a stand-in for the PEM")
    assert make_keys(venv, {"STOCKCAST_KEYS_DIR": str(keys)}) == [], "a pair there is kept"


@pytest.mark.parametrize(
    ("args", "command"),
    [
        ("", "src/train.py experiment=mlp_w10"),
        # Before the default, Hydra's -m was read as an unknown argument after the overrides.
        ("-m optim.lr=1e-3,3e-3", "src/train.py -m optim.lr=1e-3,3e-3 experiment=mlp_w10"),
        # The search selects experiment=auto itself; the default overrode it.
        ("-m hparams_search=auto_optuna", "src/train.py -m hparams_search=auto_optuna"),
        # One that tunes the experiment it is given keeps the default.
        (
            "-m hparams_search=mlp_optuna",
            "src/train.py -m hparams_search=mlp_optuna experiment=mlp_w10",
        ),
        ("experiment=auto seed=2", "src/train.py experiment=auto seed=2"),
    ],
)
def test_make_train_adds_the_default_experiment_only_where_args_choose_none(
    args: str, command: str
) -> None:
    line = make_line("src/train.py", "train", f"ARGS={args}")
    assert " ".join(line.split()).endswith(command)


def make_line(marker: str, *words: str) -> str:
    """The command line `make -n <words>` would run that holds `marker`."""
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", *words],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(line for line in printed.splitlines() if marker in line)


@pytest.mark.parametrize("target", ["submit", "submit-schedule", "submit-train", "deploy"])
def test_the_azure_targets_run_the_pipelines_experiment(target: str) -> None:
    """`make deploy` passed ARGS alone: with EXPERIMENT=mlp_w30 the schedule ran mlp_w30's
    pipeline and the endpoint served mlp_w10's registered model."""
    line = make_line("scripts/submit.py", target, "EXPERIMENT=mlp_w30", "DRY_RUN=1")
    assert line.split()[-1] == "experiment=mlp_w30"


def test_the_searches_make_leaves_the_experiment_to_are_those_that_select_one() -> None:
    """A search config that overrides /experiment must be in SEARCHES_WITH_EXPERIMENT, or make's
    default would override it (every trial of auto_optuna was refused)."""
    line = next(
        line
        for line in (PROJECT_ROOT / "Makefile").read_text().splitlines()
        if line.startswith("SEARCHES_WITH_EXPERIMENT")
    )
    listed = {word.removeprefix("hparams_search=") for word in line.split("=", 1)[1].split()}
    selecting = {
        path.stem
        for path in (PROJECT_ROOT / "configs" / "hparams_search").glob("*.yaml")
        if "override /experiment" in path.read_text()
    }
    assert listed == selecting


def test_the_files_test_fast_leaves_uncollected_hold_only_azureml_tests() -> None:
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "test-fast"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (pattern,) = re.findall(r"--ignore-glob='([^']+)'", dry_run)
    left_out = sorted(PROJECT_ROOT.glob(pattern))
    assert len(left_out) >= 8, pattern
    for path in left_out:
        marks = re.search(r"^pytestmark = (\[.*?\]|.*?)$", path.read_text(), re.M | re.S)
        assert marks and "pytest.mark.azureml" in marks[1], f"{path.name} is not all azureml"


def test_make_clean_says_a_store_root_is_left_only_where_it_is(tmp_path: Path) -> None:
    """With STOCKCAST_ROOT naming the project folder itself (or `.`), make clean removed its
    store and then said `STOCKCAST_ROOT=... is left as it is`; another folder is left and said
    so."""
    project, other = tmp_path / "project", tmp_path / "other"
    for folder in (project, other):
        (folder / "logs").mkdir(parents=True)
        (folder / "mlruns.db").write_text("")

    def clean(root: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKCAST_")}
        done = subprocess.run(
            ["make", "--no-print-directory", "-f", str(PROJECT_ROOT / "Makefile"), "clean"],
            cwd=project,
            env=env | {"STOCKCAST_ROOT": root},
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    for root in (str(project), "."):
        assert "is left as it is" not in clean(root)
        assert not (project / "mlruns.db").exists()
        (project / "mlruns.db").write_text("")
    # Its outputs/ (a dry run's Azure ML YAML, bench-accuracy's tables) was left unnamed.
    assert (
        f"STOCKCAST_ROOT={other} is left as it is: remove its logs/, outputs/, mlruns.db, "
        "mlartifacts/ and ledger.db yourself if you mean to."
    ) in clean(str(other)).splitlines()
    assert (other / "mlruns.db").is_file() and (other / "logs").is_dir()


@pytest.mark.parametrize(
    ("variable", "folder", "named"),
    [
        ("STOCKCAST_ROOT", "outputs/exp1", "STOCKCAST_ROOT=outputs/exp1"),
        ("STOCKCAST_KEYS_DIR", "logs/keys", "the signing key folder logs/keys"),
    ],
)
def test_make_clean_refuses_to_remove_a_store_root_or_keys_inside_what_it_cleans(
    tmp_path: Path, variable: str, folder: str, named: str
) -> None:
    """A STOCKCAST_ROOT in outputs/ went with outputs/ (its store and private signing key) while
    clean said it was left as it is."""
    kept = tmp_path / folder
    kept.mkdir(parents=True)
    (kept / "mlruns.db").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKCAST_")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", str(PROJECT_ROOT / "Makefile"), "clean"],
        cwd=tmp_path,
        env=env | {variable: folder},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert (
        f"make clean would remove {named} with {folder.split('/')[0]}/, which it leaves as it "
        f"is: move it out of {folder.split('/')[0]}/ (or remove it yourself) and run make "
        "clean again."
    ) in done.stderr.splitlines()
    assert (kept / "mlruns.db").is_file()


@pytest.mark.parametrize("value", ["1", "yes", "0", "False", "NO", ""])
def test_make_submit_reads_dry_run_as_the_script_does(tmp_path: Path, value: str) -> None:
    """make took DRY_RUN=False (or NO) for a dry run, which the script run directly reads as a
    real submission: the same words must mean the same in both."""
    from stockcast.orchestration.azureml.settings import dry_run_from_env

    venv = fake_venv(tmp_path)
    (venv / "bin" / "python").write_text(
        '#!/bin/sh\necho "$DRY_RUN|$@" >> "$(dirname "$0")/../calls.log"\n'
    )
    (venv / ".installed").touch()
    stamp = f"{venv}/.torch-spec"
    env = {k: v for k, v in os.environ.items() if k != "DRY_RUN"}
    (call,) = run_make(
        venv, ["-o", f"{venv}/.installed", "-o", stamp, "submit", f"DRY_RUN={value}"], env
    )
    seen, arguments = call.split("|", 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRY_RUN", seen)
        dry = "--dry-run" in arguments.split() or dry_run_from_env()
        patch.setenv("DRY_RUN", value)
        assert dry == dry_run_from_env()


@pytest.mark.parametrize(
    ("target", "before", "after"),
    [("train", ["src/train.py"], ["experiment=mlp_w10"]), ("serve", ["scripts/serve.py"], [])],
)
def test_args_reach_the_command_as_a_shell_reads_their_quotes_with_nothing_expanded(
    tmp_path: Path, target: str, before: list[str], after: list[str]
) -> None:
    """`make train ARGS='x=${oc.env:HOME}'` ran train.py with `x=`: make read the interpolation
    as a variable of its own (and the shell would have, had make left it)."""
    venv = fake_venv(tmp_path)
    (venv / "bin" / "python").write_text(
        '#!/bin/sh\nlog="$(dirname "$0")/../calls.log"\nprintf "%s|" "$@" >> "$log"\necho >> "$log"\n'
    )
    (venv / ".installed").touch()
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("model-signing.key", "model-signing.pub"):
        (keys / name).write_text("a stand-in for the PEM")
    args = (
        "paths.x=${oc.env:HOME} -m optim.lr=1e-3,3e-3 model.hidden_sizes=[64,64] "
        "data.path='${oc.env:HOME}/My  Data/x.csv' \"azureml.schedule.cron='0 6 * * 1,3,5'\" y=$$z"
    )
    words = [
        "paths.x=${oc.env:HOME}",
        "-m",
        "optim.lr=1e-3,3e-3",
        "model.hidden_sizes=[64,64]",
        "data.path=${oc.env:HOME}/My  Data/x.csv",
        "azureml.schedule.cron='0 6 * * 1,3,5'",
        "y=$$z",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKCAST_")}
    stamp = f"{venv}/.torch-spec"
    flags = ["-o", f"{venv}/.installed", "-o", stamp]
    (call,) = run_make(
        venv, [*flags, target, f"ARGS={args}"], env | {"STOCKCAST_KEYS_DIR": str(keys)}
    )
    assert call.split("|")[:-1] == [*before, *words, *after]


@pytest.mark.parametrize("args", ["data.path='a b", "data.path=a\\"])
def test_args_with_a_quote_left_open_stop_make_before_the_command_runs(args: str) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "train", f"ARGS={args}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert (
        f"ARGS ({args}) could not be split into words as a shell splits a command line: "
        "close each quote it opens, and end it with no lone backslash.  Stop."
    ) in done.stderr
    assert "src/train.py" not in done.stdout
