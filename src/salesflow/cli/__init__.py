"""The command line: parse input, call a service, render output. Nothing imports it."""
