"""The batch pipeline: raw-data/ CSV files -> presence check -> ECS Fargate steps -> KPI tables.

An object created under `raw-data/` invokes `presence_check`, which starts the batch state machine
once products, orders and order items are there. The machine runs each batch step as a Fargate
task of one container image (the repo's Dockerfile), `python -m salesflow.aws.batch_task STEP`,
then publishes a notice to SNS; on any failure it publishes the failure. `cleanup` runs on both
paths (Catch -> notify -> cleanup -> Fail), so a batch never stays half-claimed.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from .foundation import Foundation
from .functions import LOG_RETENTION, REPO, Functions, FunctionSpec
from .orders import LAMBDA_TRANSIENT, machine_logs
from .params import Parameters

BATCH_STEPS = ("validate", "transform", "publish", "archive")
TASK_ENTRY_POINT = ("python", "-m", "salesflow.aws.batch_task")  # the Dockerfile's ENTRYPOINT
# What each step reads and writes in the bucket.
_READS = ("raw-data/*", "processed/*", "validated/*", "batches/*")
_WRITES = ("validated/*", "rejected/*", "processed/*", "archive/*", "batches/*")


class BatchPipeline(Construct):
    """The presence check, the Fargate steps, notices and cleanup."""

    def __init__(self, scope: Construct, construct_id: str, base: Foundation, fns: Functions, p: Parameters) -> None:
        super().__init__(scope, construct_id)
        self.cleanup = fns.make(FunctionSpec("cleanup", timeout=Duration.minutes(2)))
        base.bucket.grant_read(self.cleanup, "batches/*")
        base.bucket.grant_delete(self.cleanup, "batches/*")

        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,  # tasks get a public IP and no ingress: no NAT gateway to pay for
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(self, "FlowLogs", retention=LOG_RETENTION)
            ),
        )
        cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        task_def = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=1024,
            memory_limit_mib=4096,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        container = task_def.add_container(
            "batch",
            image=ecs.ContainerImage.from_asset(str(REPO), file="Dockerfile"),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="batch", log_group=logs.LogGroup(self, "TaskLogs", retention=LOG_RETENTION)
            ),
            environment={
                "SALESFLOW_HOME": "/tmp/salesflow",
                "SALESFLOW_AWS__BUCKET": base.bucket.bucket_name,
                "SALESFLOW_AWS__ORDER_KPI_TABLE": base.order_kpi.table_name,
                "SALESFLOW_AWS__CATEGORY_KPI_TABLE": base.category_kpi.table_name,
                "SALESFLOW_AWS__TOPIC_ARN": base.notices.topic_arn,
            },
            readonly_root_filesystem=False,
        )
        role = task_def.task_role
        for prefix in _READS:
            base.bucket.grant_read(role, prefix)
        for prefix in _WRITES:
            base.bucket.grant_put(role, prefix)
        base.bucket.grant_delete(role, "raw-data/*")  # archived files leave raw-data/
        # BatchRun.cleanup: a failed batch's staged outputs, and processed state no longer current.
        for prefix in ("validated/*", "rejected/*", "processed/*"):
            base.bucket.grant_delete(role, prefix)
        base.order_kpi.grant_read_write_data(role)
        base.category_kpi.grant_read_write_data(role)

        group = ec2.SecurityGroup(self, "TaskSecurityGroup", vpc=vpc, description="batch tasks: egress only")
        steps = [self._step(name, cluster, task_def, container, group) for name in BATCH_STEPS]

        def notice(state_id: str, outcome: str) -> tasks.SnsPublish:
            return tasks.SnsPublish(
                self,
                state_id,
                topic=base.notices,
                subject=f"salesflow batch {outcome}",
                message=sfn.TaskInput.from_object(
                    {
                        "pipeline": "batch",
                        "outcome": outcome,
                        "batch": sfn.JsonPath.object_at("$.batch"),
                        "execution": sfn.JsonPath.execution_id,
                        "error": sfn.JsonPath.object_at("$.error") if outcome == "failed" else None,
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
            )

        def cleanup(state_id: str) -> tasks.LambdaInvoke:
            step = tasks.LambdaInvoke(
                self,
                state_id,
                lambda_function=self.cleanup,
                payload=sfn.TaskInput.from_json_path_at("$.batch"),
                result_path=sfn.JsonPath.DISCARD,
                retry_on_service_exceptions=False,
            )
            step.add_retry(errors=LAMBDA_TRANSIENT, max_attempts=3, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
            return step

        failed = (
            notice("NotifyFailure", "failed")
            .next(cleanup("CleanupAfterFailure"))
            .next(sfn.Fail(self, "BatchFailed", error="BatchFailed", cause="see the notice and the task logs"))
        )
        chain = sfn.Pass(self, "Batch", parameters={"batch.$": "$"})
        for step in steps:
            step.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        definition = chain.next(steps[0])
        for step in steps[1:]:
            definition = definition.next(step)
        definition = (
            definition.next(notice("NotifySuccess", "succeeded"))
            .next(cleanup("Cleanup"))
            .next(sfn.Succeed(self, "BatchDone"))
        )
        self.machine = sfn.StateMachine(
            self,
            "Machine",
            state_machine_name=f"{p.name_prefix.value_as_string}-batch",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.hours(6),
            logs=machine_logs(self, "MachineLogs"),
        )

        self.presence_check = fns.make(
            FunctionSpec("presence_check", timeout=Duration.seconds(60)),
            {"BATCH_STATE_MACHINE_ARN": self.machine.state_machine_arn},
        )
        base.bucket.grant_read(self.presence_check, "raw-data/*")
        base.bucket.grant_read(self.presence_check, "processed/state/*")
        base.bucket.grant_read_write(self.presence_check, "batches/*")
        self.machine.grant_start_execution(self.presence_check)
        events.Rule(
            self,
            "RawDataRule",
            description="raw-data/ objects for the batch presence check",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [base.bucket.bucket_name]}, "object": {"key": [{"prefix": "raw-data/"}]}},
            ),
            targets=[targets.LambdaFunction(self.presence_check, dead_letter_queue=base.undelivered, retry_attempts=8)],
        )

    def _step(
        self,
        name: str,
        cluster: ecs.ICluster,
        task_def: ecs.FargateTaskDefinition,
        container: ecs.ContainerDefinition,
        group: ec2.ISecurityGroup,
    ) -> tasks.EcsRunTask:
        step = tasks.EcsRunTask(
            self,
            f"Step{name.title()}",
            state_name=name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            cluster=cluster,
            task_definition=task_def,
            launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
            assign_public_ip=True,
            security_groups=[group],
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            container_overrides=[
                tasks.ContainerOverride(
                    container_definition=container,
                    command=[name],
                    environment=[
                        tasks.TaskEnvironmentVariable(
                            name="BATCH_ID", value=sfn.JsonPath.string_at("$.batch.batch_id")
                        ),
                        tasks.TaskEnvironmentVariable(
                            name="BATCH_INPUT", value=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.batch"))
                        ),
                    ],
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.hours(1)),
        )
        # Fargate capacity hiccups are worth a retry; a step that ran and failed is not.
        step.add_retry(
            errors=["ECS.AmazonECSException", "ECS.ServerException"],
            interval=Duration.seconds(10),
            max_attempts=3,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return step
