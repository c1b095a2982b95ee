"""Azure ML executor: the step table as azure-ai-ml components, pipeline, schedule and jobs.

settings (composed config, data binding, DRY_RUN, distributed training; no azure import at
module level, the launcher loads it), workspace, components (a step's command line, environment,
compute), datastore (folders that outlive a run), pipeline (wired by port names, and its daily
schedule), jobs (training, sweep jobs, endpoint), dry_run (offline checks, YAML), cli.
The only place `azure.ai.ml` is imported besides the Hydra launcher; nothing on the local
train/predict path imports it. Everything is built and validated offline.
"""
