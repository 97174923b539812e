from .abf import ABF
from .abf_connector import ABFConnector
from .base_connector import BaseConnector

__all__ = ['ABF', 'ABFConnector', 'BaseConnector']
