from .abf import ABF
from .abf_connector import ABFConnector

__all__ = ['ABF', 'ABFConnector']
