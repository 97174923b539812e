from .abf import ABF, ABFConnector
from .base_connector import BaseConnector

__all__ = ['ABF', 'ABFConnector', 'BaseConnector']
