"""Lambda handlers: decode the AWS event, call the domain or an adapter, encode the reply.

Each module has ``lambda_handler(event, context)`` (the function AWS calls) and a
``handle(...)`` that takes its services as a parameter, so tests hand in moto-backed ones.
"""
