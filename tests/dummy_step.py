"""A fifth step that is not in the table: tests append it as one row to prove both executors are
generic over the table (no step is named in the runner or the Azure ML builder).

`python -m tests.dummy_step +publish.report_dir=... +publish.output_dir=...` runs it as a Hydra
task over pipeline.yaml, as an Azure ML component would.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.steps.table import URI_FOLDER, Port, Step

PUBLISHED_FILE = "published.json"

PUBLISH_STEP = Step(
    "publish",
    "tests.dummy_step:run_publish",
    "Publish the evaluation's gate verdict (a test step).",
    inputs=(Port("report", URI_FOLDER, "publish.report_dir"),),
    outputs=(Port("published", URI_FOLDER, "publish.output_dir"),),
    writes=(PUBLISHED_FILE,),
)


def run_publish(cfg: DictConfig) -> None:
    """Copy the report's gate result into `published.json` of the output folder."""
    report = json.loads((Path(cfg.publish.report_dir) / REPORT_FILE).read_text())
    output_dir = Path(cfg.publish.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / PUBLISHED_FILE).write_text(json.dumps({"gate": report["gate"]}))


# Its own config section, which the shared schema does not know.
main = hydra_task(run_publish, sections=("publish",))

if __name__ == "__main__":
    main()
