"""nnU-Net configuration managers for PlainConvUNet / ResidualEncoderUNet, 2D and 3D, as the planner writes them."""
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager

ARCHITECTURES = {
    "plain": ("dynamic_network_architectures.architectures.unet.PlainConvUNet", "n_conv_per_stage"),
    "resenc": ("dynamic_network_architectures.architectures.unet.ResidualEncoderUNet", "n_blocks_per_stage"),
}


def configuration(architecture: str, patch_size, strides, spacing=None, features=8):
    """A ConfigurationManager with the planner's architecture layout (small features for speed)."""
    dims = len(patch_size)
    class_name, blocks_key = ARCHITECTURES[architecture]
    stages = len(strides)
    conv = "torch.nn.modules.conv.Conv%dd" % dims
    norm = "torch.nn.modules.instancenorm.InstanceNorm%dd" % dims
    arch_kwargs = {
        "n_stages": stages,
        "features_per_stage": [min(features * 2 ** i, 64) for i in range(stages)],
        "conv_op": conv,
        "kernel_sizes": [[3] * dims] * stages,
        "strides": strides,
        blocks_key: [1] * stages,
        "n_conv_per_stage_decoder": [1] * (stages - 1),
        "conv_bias": True,
        "norm_op": norm,
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }
    return ConfigurationManager({
        "patch_size": list(patch_size),
        "spacing": list(spacing or [1.0] * dims),
        "batch_size": 2,
        "architecture": {"network_class_name": class_name, "arch_kwargs": arch_kwargs,
                         "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
    })


CASES = {
    "plain-2d": ("plain", (32, 32), [[1, 1], [2, 2], [2, 2], [2, 2]]),
    "resenc-2d": ("resenc", (32, 32), [[1, 1], [2, 2], [2, 2], [2, 2]]),
    "plain-3d": ("plain", (8, 16, 16), [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]]),
    "resenc-3d": ("resenc", (8, 16, 16), [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]]),
}
