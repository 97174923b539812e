from .hcl_loss import HCLoss, hcl_fast, hcl_reference

__all__ = ['HCLoss', 'hcl_fast', 'hcl_reference']
