from .complexity import COUNTED_OPS, model_complexity

__all__ = ['COUNTED_OPS', 'model_complexity']
