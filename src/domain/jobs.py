"""Jobs and stages: what a job runs and where (a shell in the job runner Lambda, or a CodeBuild build)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import Model

DEFAULT_JOB_TIMEOUT_SECONDS = 300
MAX_JOB_TIMEOUT_SECONDS = 840  # stays below the job runner's 900 s function timeout
MAX_BUILD_TIMEOUT_SECONDS = 28800  # CodeBuild's own limit is 36 hours; 8 hours is ours
DEFAULT_BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
DEFAULT_COMPUTE_TYPE = "BUILD_GENERAL1_SMALL"


class Runner(StrEnum):
    """Where a job runs: a shell in the job runner Lambda, or a CodeBuild build."""

    LAMBDA = "lambda"
    CODEBUILD = "codebuild"


class Job(Model):
    """One job: its script and where it runs. `image`, `compute_type` and `privileged` are for codebuild jobs."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    script: Annotated[tuple[str, ...], Field(min_length=1)]
    runner: Runner = Runner.LAMBDA  # before timeout_seconds, whose limit depends on it
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_BUILD_TIMEOUT_SECONDS)] = DEFAULT_JOB_TIMEOUT_SECONDS
    image: Annotated[str, Field(pattern=r"^[^\s]{1,255}$")] | None = None
    compute_type: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")] | None = None
    privileged: bool | None = None
    checkout: bool | None = None  # None: check out when the pipeline names a repository (codebuild jobs)

    @field_validator("script", mode="before")
    @classmethod
    def _one_line_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("script")
    @classmethod
    def _no_nul(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any("\x00" in line for line in value):
            raise ValueError("a script line contains a NUL character, which no shell can run")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _fits_a_lambda_job(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("runner", Runner.LAMBDA) is Runner.LAMBDA and value > MAX_JOB_TIMEOUT_SECONDS:
            raise ValueError(
                f"job {info.data.get('name', '')!r} runs on lambda, where a job ends after at most "
                f"{MAX_JOB_TIMEOUT_SECONDS} s; set 'runner: codebuild' for up to {MAX_BUILD_TIMEOUT_SECONDS} s"
            )
        return value

    @model_validator(mode="after")
    def _fits_its_runner(self) -> Job:
        if self.runner is Runner.CODEBUILD:
            return self
        settings = {"image": self.image, "computeType": self.compute_type, "privileged": self.privileged}
        codebuild_only = [alias for alias, value in settings.items() if value is not None]
        if codebuild_only:
            raise ValueError(f"job {self.name!r}: {', '.join(codebuild_only)} only apply to 'runner: codebuild'")
        if self.checkout:
            raise ValueError(
                f"job {self.name!r} runs on lambda, which has no git to check out the commit: "
                "set 'runner: codebuild', or 'checkout: false'"
            )
        return self

    def checks_out(self, repository: str | None) -> bool:
        """True if the job starts in a checkout of the run's commit."""
        if repository is None or self.runner is not Runner.CODEBUILD:
            return False
        return self.checkout is not False


class Stage(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    jobs: Annotated[tuple[Job, ...], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _job_names_unique(self) -> Stage:
        names = [job.name for job in self.jobs]
        if len(names) != len(set(names)):
            raise ValueError(f"job names must be unique within stage {self.name!r}")
        return self
