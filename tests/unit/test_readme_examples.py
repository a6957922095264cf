"""The README's YAML examples are what hookrun takes: its pipeline file applies, its stated defaults are the model's."""

from __future__ import annotations

import yaml

from domain.models import Pipeline
from domain.sources.filters import SourceSettings
from tests.readme import README, Block, blocks


def yaml_block_after(heading: str) -> Block:
    """The first YAML block of the README section that starts with `heading`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    return next(block for block in blocks(text[start:]) if block.language == "yaml")


def test_the_pipeline_file_example_is_a_valid_pipeline() -> None:
    example = yaml.safe_load(yaml_block_after("## The pipeline file").text)

    pipeline = Pipeline.model_validate(example)

    assert [job.runner for job in pipeline.stages[0].jobs] == ["lambda", "codebuild"]


def test_the_source_block_said_to_hold_the_defaults_holds_the_defaults() -> None:
    shown = yaml.safe_load(yaml_block_after("### Which events start runs").text)["source"]

    defaults = SourceSettings().model_dump(by_alias=True, mode="json")

    assert shown == {name: defaults[name] for name in shown}
