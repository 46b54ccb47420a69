"""Implementations of the ports: memory fakes, the local (embedded) face, the AWS face."""
