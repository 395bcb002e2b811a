"""A faithful local simulator of the Codegen REST API, quirks included.

Used by every test of the project and by `codegen-mcp simulate` for demos. Runs are scripted
through `[sim:...]` directives in their prompts (see `directives.py`); the `/_sim/` control API
and the `Simulator` methods inspect and steer it.
"""

from codegen_mcp.simulator.config import SimConfig
from codegen_mcp.simulator.server import Simulator, serve

__all__ = ["SimConfig", "Simulator", "serve"]
