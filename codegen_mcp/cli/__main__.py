"""`python -m codegen_mcp.cli ...`: the same as the `codegen-mcp` script."""

import sys

from codegen_mcp.cli import main

sys.exit(main())
