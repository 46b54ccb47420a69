"""AWS-face tests run against moto on 127.0.0.1 (see moto.py)."""

from __future__ import annotations

from tests.aws.moto import aws, moto_endpoint

__all__ = ["aws", "moto_endpoint"]
