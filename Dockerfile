# The batch pipeline's container (ECS Fargate): the same salesflow package as every other face.
# Each Step Functions step runs it with one argument, the step: validate, transform, publish, archive
# (`python -m salesflow.aws.batch_task STEP`; the batch comes in BATCH_ID / BATCH_INPUT).
# Built by `cdk deploy` (ContainerImage.from_asset); locally: docker build -t salesflow-batch .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SALESFLOW_HOME=/tmp/salesflow

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[aws]' && rm -rf /build

RUN useradd --create-home --uid 10001 salesflow
USER salesflow
WORKDIR /home/salesflow

ENTRYPOINT ["python", "-m", "salesflow.aws.batch_task"]
CMD ["--help"]
