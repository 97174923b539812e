from . import algorithms, backbones, connectors, distillers, losses, recorders  # noqa: F401
