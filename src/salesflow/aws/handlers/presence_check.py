"""Lambda entry point ``presence_check.handler`` (EventBridge Object Created under raw-data/); see batch_gate."""

from salesflow.aws.handlers.batch_gate import presence_check_handler as handler

__all__ = ["handler"]
