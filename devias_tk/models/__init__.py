"""Models: the VideoMAE-compatible backbone, slot attention, DEVIAS and the paper's baselines."""

from devias_tk.models.backbone import PRESETS, VideoViT, sinusoid_table
from devias_tk.models.baselines import PooledClassifier, TokenClassifier
from devias_tk.models.devias import DEVIAS, assign_by_probability, select_slot
from devias_tk.models.factory import METHODS, build_model, is_slot_block, layer_id
from devias_tk.models.heads import ActionMaskDecoder
from devias_tk.models.slots import SlotAttention

__all__ = [
    "DEVIAS",
    "METHODS",
    "PRESETS",
    "ActionMaskDecoder",
    "PooledClassifier",
    "SlotAttention",
    "TokenClassifier",
    "VideoViT",
    "assign_by_probability",
    "build_model",
    "is_slot_block",
    "layer_id",
    "select_slot",
    "sinusoid_table",
]
