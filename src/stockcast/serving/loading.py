"""Load a stockcast model folder, refusing anything that would unpickle or run unverified code.

MLflow can also load pyfunc models that are cloudpickled Python objects; loading one of those
runs arbitrary code. A stockcast model is built "from code" with safetensors weights, so that is
the only shape accepted here, checked from the MLmodel file before MLflow touches the folder. And
since a models-from-code folder runs its own `pyfunc_model.py`, only a private copy that was
hashed (and for a registered version, verified against its tags) is loaded: see
`stockcast.registry.integrity` and `stockcast.serving.model`. Damaged files are one sentence
naming them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError, DamagedFiles, first_line
from stockcast.files import read_json_object
from stockcast.forecasting.windows import WINDOW_KEYS
from stockcast.serving.metadata import EVALUATED_DIR, evaluated_model_dir, read_model_metadata
from stockcast.serving.shipped_code import SHIPPED_CODE_DIR, shipped_code_imports

CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"
SAFE_WEIGHTS_SUFFIX = ".safetensors"
PICKLED_FILES = ("python_model.pkl", "python_model.pickle")
TYPE_HINT_NOTICE = "type hint"
# What MLflow appends to an error of the model's code; no stack trace is shown here.
MLFLOW_HINT = " Review the stack trace for more information."
REBUILD = "the folder is damaged: export or register the model again"
# PyTorch's lines naming the weights missing from, and unexpected in, a state dict it loads.
STATE_DICT_KEYS = "key(s) in state_dict"
# What a message names: a folder, or a registered version by its name ("m version 3").
Shown = Path | str


def _named(shown: Shown, part: str | None = None) -> str:
    """How messages name the folder (a path) or a file in it; a registered version is named by
    its model and version, not by the private copy it was loaded from."""
    if isinstance(shown, Path):
        return str(shown / part) if part else str(shown)
    return f"{part} of {shown}" if part else shown


def _loaded(shown: Shown) -> str:
    """What failed to load: the model in a folder, or a registered version by its name."""
    return f"the model in {shown}" if isinstance(shown, Path) else shown


def _read_mlmodel(model_dir: Path, shown: Shown | None = None) -> dict[str, Any]:
    import yaml

    mlmodel = model_dir / "MLmodel"
    shown = shown or model_dir
    if not mlmodel.is_file():
        raise DamagedFiles(
            f"{_named(shown)} has no MLmodel file", "it is not an MLflow model folder"
        )
    try:
        content = yaml.safe_load(mlmodel.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise DamagedFiles(
            f"{_named(shown, 'MLmodel')} is not valid YAML{where}", REBUILD
        ) from None
    if not isinstance(content, dict):
        raise DamagedFiles(f"{_named(shown, 'MLmodel')} holds no MLmodel mapping", REBUILD)
    return content


def check_safe_model_dir(model_dir: str | Path, shown: Shown | None = None) -> dict[str, Any]:
    """Raise unless the folder is a models-from-code pyfunc whose weights are safetensors;
    returns its python_function flavor. `shown` is what messages name (the original of a
    private copy, or a registered version's name)."""
    model_dir = Path(model_dir)
    return _safe_flavor(model_dir, _read_mlmodel(model_dir, shown), shown)


def _safe_flavor(model_dir: Path, mlmodel: dict[str, Any], shown: Shown | None) -> dict[str, Any]:
    """`check_safe_model_dir` on the folder's MLmodel, read already."""
    flavor = (mlmodel.get("flavors") or {}).get("python_function") or {}
    named = _named(shown or model_dir)
    weights = str(((flavor.get("artifacts") or {}).get("weights") or {}).get("path", ""))
    pickled = [name for name in PICKLED_FILES if (model_dir / name).exists()]
    if flavor.get("loader_module") != CODE_MODEL_LOADER or pickled:
        raise DamagedFiles(
            f"{named} is not a models-from-code pyfunc (loader {flavor.get('loader_module')!r})",
            "refusing to load it because that would unpickle",
        )
    if not weights.endswith(SAFE_WEIGHTS_SUFFIX):
        raise DamagedFiles(
            f"{named} keeps its weights in {weights or 'no file'!r}, not safetensors",
            "refusing to load it because that could unpickle",
        )
    return flavor


def check_model_files(model_dir: str | Path, shown: Shown | None = None) -> None:
    """The files loading reads, each parsed without running anything: MLmodel, the model code
    file, spec.json and the safetensors header (a truncated file fails here, named)."""
    from safetensors import SafetensorError, safe_open

    model_dir = Path(model_dir)
    shown = shown or model_dir
    mlmodel = _read_mlmodel(model_dir, shown)
    flavor = _safe_flavor(model_dir, mlmodel, shown)
    code_name = Path(str(flavor.get("model_code_path") or "")).name
    if not code_name or not (model_dir / code_name).is_file():
        raise DamagedFiles(f"{_named(shown)} has no model code file {code_name!r}", REBUILD)
    artifacts = flavor.get("artifacts") or {}
    spec = str((artifacts.get("spec") or {}).get("path", "artifacts/spec.json"))
    spec_fields = read_json_object(model_dir / spec)
    if spec_fields is None:
        raise DamagedFiles(f"{_named(shown, spec)} is missing or not a JSON object", REBUILD)
    # Callers feed the windows the MLmodel's metadata names; the network is built from the spec.
    metadata = mlmodel.get("metadata") or {}
    for key in WINDOW_KEYS:
        if key in metadata and key in spec_fields and metadata[key] != spec_fields[key]:
            raise DamagedFiles(
                f"{_named(shown)} names {key}={metadata[key]} in MLmodel but {spec_fields[key]} "
                f"in {spec}, so its files come from two models",
                REBUILD,
            )
    weights = str(artifacts["weights"]["path"])
    try:
        with safe_open(str(model_dir / weights), framework="numpy") as tensors:
            for name in tensors.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors.get_slice(name)
    except (OSError, SafetensorError) as err:
        raise DamagedFiles(
            f"{_named(shown, weights)} is missing, truncated or not safetensors "
            f"({_first_line(err)})",
            REBUILD,
        ) from None


def check_refit_pair(model_dir: Path, evaluated_digest: str, shown: Shown) -> None:
    """A refit folder holds the model it was refitted from (`evaluated/`, whose hash is
    `evaluated_digest`): its refit record names that hash and both read the same windows. A
    folder put together from two runs would be registered with one model's test scores and
    serve the other."""
    outer = read_model_metadata(model_dir)
    inner = read_model_metadata(model_dir / EVALUATED_DIR)
    recorded = (outer.get("refit") or {}).get("evaluated_model_hash")
    if recorded != evaluated_digest:
        raise ArtifactError(
            f"{_named(shown)} holds an {EVALUATED_DIR}/ model that is not the one it was refitted "
            "from, so the report's scores are not this model's; register the refit step's own "
            "output folder."
        )
    for key in WINDOW_KEYS:
        if outer.get(key) != inner.get(key):
            raise ArtifactError(
                f"{_named(shown)} reads {key}={outer.get(key)} but the model it was refitted "
                f"from {inner.get(key)}; {REBUILD}."
            )


def check_refit_whole(model_dir: Path, shown: Shown) -> None:
    """A refit folder must still hold the model it was refitted from (`evaluated/`): that
    model's report is the refit's only held-out score, and the champion comparison scores it.
    Without it the register step said to evaluate the refit itself, which scores it on the test
    windows it was fitted on."""
    refit = read_model_metadata(model_dir).get("refit")
    if refit and evaluated_model_dir(model_dir) == Path(model_dir):
        raise ArtifactError(
            f"{_named(shown)} is a refit without the model it was refitted from "
            f"({EVALUATED_DIR}/), whose report is its only held-out score; register the refit "
            "step's whole output folder, or run the refit step again to write it."
        )


def _first_line(err: BaseException) -> str:
    # PyTorch puts the useful part ("size mismatch for ...", or the keys missing and unexpected)
    # after a heading line, which alone names no weight.
    lines = [line.strip() for line in str(err).splitlines()]
    keys = " ".join(line for line in lines if STATE_DICT_KEYS in line)
    detail = next((line for line in lines if "size mismatch" in line), None) or keys
    return (detail or first_line(err))[:300]


def load_checked_copy(
    copy: Path, shown: Shown, check_requirements: bool = False, files_checked: bool = False
) -> tuple[Any, dict[str, Any]]:
    """Check every file of a private verified copy (unless the caller has, `files_checked`),
    then load it: (pyfunc, its metadata). `shown` is what messages name: the original folder the
    copy was made from, or a registered version's name (its copy is a private temporary folder
    the user never sees).

    `check_requirements` lets MLflow compare the model's pinned requirements with the installed
    packages; it scans every installed distribution (about half a second), so it is opt-in.
    """
    import mlflow.pyfunc

    if not files_checked:
        check_model_files(copy, shown=shown)
    metadata = read_model_metadata(copy)
    shipped = copy / SHIPPED_CODE_DIR
    # MLflow suggests type hints on predict() (the model declares a tensor signature instead) and
    # forces that warning "once" inside its own filters, so it is recorded here and dropped.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            with shipped_code_imports(copy, shipped):
                model = mlflow.pyfunc.load_model(
                    str(copy), suppress_warnings=not check_requirements
                )
        # Whatever the folder's files make loading raise (its code may even call exit): one
        # sentence, naming the folder the user knows, not the private copy.
        except (Exception, SystemExit) as err:
            if isinstance(err, SystemExit):
                reason = f"its code exits, with status {0 if err.code is None else err.code}"
            else:
                reason = _first_line(err).replace(str(copy), _named(shown))
                reason = reason.replace(MLFLOW_HINT, "").strip().rstrip(".")
            raise ArtifactError(f"cannot load {_loaded(shown)} ({reason}); {REBUILD}.") from None
    for item in caught:
        if TYPE_HINT_NOTICE not in str(item.message):
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return model, metadata
