"""The baseline Lambda: powertools' logger, tracer and metrics around a handler that does nothing."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="bare")
tracer = Tracer(service="bare")
metrics = Metrics(namespace="bench", service="bare")


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    return {"ok": True}
