"""Run the pipeline steps on Azure ML: `python scripts/submit.py pipeline experiment=mlp_w30`.

Verbs: pipeline, schedule, schedule-status, schedule-enable, schedule-disable, schedule-delete,
train, deploy, tracking-uri. Add --dry-run (or DRY_RUN=1) to write the YAML and send nothing.
"""

from stockcast.orchestration.azureml.cli import main

if __name__ == "__main__":
    main()
