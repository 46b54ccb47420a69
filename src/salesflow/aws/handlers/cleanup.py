"""Lambda entry point ``cleanup.handler`` (the batch workflow's last step, always run); see batch_gate."""

from salesflow.aws.handlers.batch_gate import cleanup_handler as handler

__all__ = ["handler"]
