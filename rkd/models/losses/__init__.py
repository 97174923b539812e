from .hcl_loss import HCLoss, hcl_fast, hcl_reference
from .kd_loss import KDLoss

__all__ = ['HCLoss', 'KDLoss', 'hcl_fast', 'hcl_reference']
