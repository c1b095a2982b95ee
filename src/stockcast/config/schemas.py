"""The configs the commands compose, each with the schema that reads it: the schema judges a
composed config by it, and a mistake Hydra reports is explained by the arguments it accepts."""

from __future__ import annotations

from stockcast.config.client_sections import PredictConfig, ServeConfig
from stockcast.config.pipeline_sections import PipelineConfig, ReplayConfig
from stockcast.config.sections import TrainConfig
from stockcast.fields import Section

# Which schema a composed config answers to, by a key only that config has, and its name.
SCHEMAS: tuple[tuple[str, type[Section], str], ...] = (
    ("serve", ServeConfig, "serve"),
    ("input", PredictConfig, "predict"),
    ("replay", ReplayConfig, "replay"),
    ("gate", PipelineConfig, "pipeline"),
    ("trainer", TrainConfig, "train"),
)
