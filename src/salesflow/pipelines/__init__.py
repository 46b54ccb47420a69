"""The workflows, written against the ports only."""
