"""On-premise multimodal embedding appliance with privacy controls."""

__version__ = "0.1.0"
