"""Method plug-ins: importing this package registers the built-ins."""

from reid_methods import (  # noqa: F401  (registration side effect)
    baseline,
    bpbreid,
    colour_histograms,
    hpnet,
    pcb,
)
from reid_methods.base import (
    METHODS,
    Batch,
    Method,
    MethodConfig,
    Output,
    build_method,
    list_methods,
    method_config,
    register_method,
    register_variant,
)

__all__ = [
    "METHODS",
    "Batch",
    "Method",
    "MethodConfig",
    "Output",
    "build_method",
    "list_methods",
    "method_config",
    "register_method",
    "register_variant",
]
