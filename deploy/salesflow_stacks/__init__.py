"""The salesflow CDK app: the orders, batch and stream pipelines on AWS (see docs/aws.md)."""
